/**
 * `GET /metrics`: the Prometheus scrape endpoint, on the master and the agent alike (the
 * libprocess `metrics` process, beside its `/metrics/snapshot`).
 */
import { requireMethod } from '../http/media.js';
import type { HttpServer } from '../http/server.js';
import type { PrometheusExporter } from './exporter.js';

export function registerPrometheusEndpoint(http: HttpServer, exporter: PrometheusExporter): void {
  http.route('metrics', '/', async (request) => {
    requireMethod(request.method, ['GET', 'HEAD']);
    return { status: 200, headers: { 'Content-Type': exporter.contentType }, body: await exporter.render() };
  });
}
