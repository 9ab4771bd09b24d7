/**
 * Pins the generated mesos.v1 descriptors to the Mesos 1.11 wire contract (reference
 * mesos-v1-api.md sections 2.9, 4.x, 6.x). A wrong field number, label, declared default,
 * deprecation mark, scalar type or enum value in proto/ makes this fail.
 *
 * Message spec syntax, one token per field:  name=NUMBER[FLAGS][:DEFAULT][/TYPE]
 *   FLAGS    R required, * repeated, M map, D deprecated (none: optional)
 *   DEFAULT  the declared proto2 default as protoc records it (5.0 -> "5", enums by name)
 *   TYPE     scalar type (uint32, double, ...) or the tail of a message/enum type name
 * Each listed message must have exactly the listed fields. Enum specs list NAME=NUMBER in
 * declaration order (proto2 takes the first value as the default) and must match exactly.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  create,
  createRegistry,
  type DescMessage,
  fromBinary,
  isFieldSet,
  toBinary,
} from '@bufbuild/protobuf';
import { Edition, FieldDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { file_mesos_v1_agent_agent } from '../../../src/wire/gen/mesos/v1/agent/agent_pb.js';
import { file_mesos_v1_allocator_allocator } from '../../../src/wire/gen/mesos/v1/allocator/allocator_pb.js';
import { file_mesos_v1_executor_executor } from '../../../src/wire/gen/mesos/v1/executor/executor_pb.js';
import { file_mesos_v1_maintenance_maintenance } from '../../../src/wire/gen/mesos/v1/maintenance/maintenance_pb.js';
import { file_mesos_v1_master_master } from '../../../src/wire/gen/mesos/v1/master/master_pb.js';
import {
  FiltersSchema,
  file_mesos_v1_mesos,
  ResourceSchema,
  TaskState,
  TaskStatus_Source,
  TaskStatusSchema,
  Value_Type,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import { file_mesos_v1_quota_quota } from '../../../src/wire/gen/mesos/v1/quota/quota_pb.js';
import {
  file_mesos_v1_scheduler_scheduler,
  CallSchema as SchedulerCallSchema,
  Call_Type as SchedulerCallType,
} from '../../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';

const registry = createRegistry(
  file_mesos_v1_mesos,
  file_mesos_v1_scheduler_scheduler,
  file_mesos_v1_executor_executor,
  file_mesos_v1_master_master,
  file_mesos_v1_agent_agent,
  file_mesos_v1_quota_quota,
  file_mesos_v1_maintenance_maintenance,
  file_mesos_v1_allocator_allocator,
);

// google.protobuf.FieldDescriptorProto.Type numbers -> .proto scalar keywords.
const SCALAR_NAMES: Record<number, string> = {
  1: 'double',
  2: 'float',
  3: 'int64',
  4: 'uint64',
  5: 'int32',
  6: 'fixed64',
  7: 'fixed32',
  8: 'bool',
  9: 'string',
  12: 'bytes',
  13: 'uint32',
  15: 'sfixed32',
  16: 'sfixed64',
  17: 'sint32',
  18: 'sint64',
};
const LABEL_REQUIRED = 2;
const LABEL_REPEATED = 3;

interface FieldSpec {
  name: string;
  number: number;
  required: boolean;
  repeated: boolean;
  map: boolean;
  deprecated: boolean;
  defaultValue: string | undefined;
  type: string | undefined;
}

function parseSpec(spec: string): FieldSpec[] {
  return spec
    .split(/\s+/)
    .filter((t) => t !== '')
    .map((token) => {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(\d+)([R*MD]*)(?::([^/]*))?(?:\/(.+))?$/.exec(token);
      if (m === null) throw new Error(`bad spec token '${token}'`);
      const flags = m[3] ?? '';
      return {
        name: m[1] ?? '',
        number: Number(m[2]),
        required: flags.includes('R'),
        repeated: flags.includes('*') || flags.includes('M'),
        map: flags.includes('M'),
        deprecated: flags.includes('D'),
        defaultValue: m[4],
        type: m[5],
      };
    });
}

/** Every difference between a message descriptor and its spec, as readable strings. */
function messageMismatches(desc: DescMessage, spec: string): string[] {
  const out: string[] = [];
  const want = parseSpec(spec);
  const wantNames = new Set(want.map((f) => f.name));
  for (const f of desc.fields) {
    if (!wantNames.has(f.name)) out.push(`${desc.typeName}.${f.name}=${f.number}: not in the spec`);
  }
  for (const w of want) {
    const where = `${desc.typeName}.${w.name}`;
    const f = desc.fields.find((x) => x.name === w.name);
    if (f === undefined) {
      out.push(`${where}: missing`);
      continue;
    }
    if (f.number !== w.number) out.push(`${where}: number ${f.number}, want ${w.number}`);
    const label =
      f.proto.label === LABEL_REQUIRED
        ? 'required'
        : f.proto.label === LABEL_REPEATED
          ? 'repeated'
          : 'optional';
    const wantLabel = w.required ? 'required' : w.repeated ? 'repeated' : 'optional';
    if (label !== wantLabel) out.push(`${where}: ${label}, want ${wantLabel}`);
    if ((f.fieldKind === 'map') !== w.map) out.push(`${where}: map=${f.fieldKind === 'map'}, want ${w.map}`);
    if (f.deprecated !== w.deprecated) out.push(`${where}: deprecated=${f.deprecated}, want ${w.deprecated}`);
    const hasDefault = isFieldSet(f.proto, FieldDescriptorProtoSchema.field.defaultValue);
    const gotDefault = hasDefault ? f.proto.defaultValue : undefined;
    if (gotDefault !== w.defaultValue) out.push(`${where}: default ${gotDefault}, want ${w.defaultValue}`);
    if (w.type !== undefined) {
      const scalar = SCALAR_NAMES[f.proto.type];
      const typeOk = scalar !== undefined ? scalar === w.type : f.proto.typeName.endsWith(`.${w.type}`);
      if (!typeOk) out.push(`${where}: type ${scalar ?? f.proto.typeName}, want ${w.type}`);
    }
  }
  return out;
}

function enumMismatches(typeName: string, spec: string): string[] {
  const desc = registry.getEnum(typeName);
  if (desc === undefined) return [`${typeName}: enum missing`];
  const got = desc.values.map((v) => `${v.name}=${v.number}`);
  const want = spec.split(/\s+/).filter((t) => t !== '');
  const out: string[] = [];
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    if (got[i] !== want[i])
      out.push(`${typeName} value #${i}: ${got[i] ?? '(none)'}, want ${want[i] ?? '(none)'}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Messages.

const MESSAGES: Record<string, string> = {
  // --- 6.1 identifiers and small types
  'mesos.v1.FrameworkID': 'value=1R/string',
  'mesos.v1.OfferID': 'value=1R/string',
  'mesos.v1.AgentID': 'value=1R/string',
  'mesos.v1.TaskID': 'value=1R/string',
  'mesos.v1.ExecutorID': 'value=1R/string',
  'mesos.v1.ResourceProviderID': 'value=1R/string',
  'mesos.v1.OperationID': 'value=1R/string',
  'mesos.v1.ContainerID': 'value=1R/string parent=2/ContainerID',
  'mesos.v1.TimeInfo': 'nanoseconds=1R/int64',
  'mesos.v1.DurationInfo': 'nanoseconds=1R/int64',
  'mesos.v1.Address': 'hostname=1/string ip=2/string port=3R/int32',
  'mesos.v1.URL': 'scheme=1R address=2R/Address path=3 query=4*/Parameter fragment=5',
  'mesos.v1.Parameter': 'key=1R value=2R',
  'mesos.v1.Parameters': 'parameter=1*',
  'mesos.v1.Label': 'key=1R value=2',
  'mesos.v1.Labels': 'labels=1*',
  'mesos.v1.UUID': 'value=1R/bytes',
  'mesos.v1.Unavailability': 'start=1R/TimeInfo duration=2/DurationInfo',
  'mesos.v1.MachineID': 'hostname=1 ip=2',
  'mesos.v1.MachineInfo': 'id=1R mode=2/Mode unavailability=3',
  'mesos.v1.DomainInfo': 'fault_domain=1',
  'mesos.v1.DomainInfo.FaultDomain': 'region=1R zone=2R',
  'mesos.v1.DomainInfo.FaultDomain.RegionInfo': 'name=1R',
  'mesos.v1.DomainInfo.FaultDomain.ZoneInfo': 'name=1R',
  'mesos.v1.Filters': 'refuse_seconds=1:5/double',
  'mesos.v1.Credential': 'principal=1R secret=2',
  'mesos.v1.Credentials': 'credentials=1*',
  'mesos.v1.Secret': 'type=1 reference=2 value=3',
  'mesos.v1.Secret.Reference': 'name=1R key=2',
  'mesos.v1.Secret.Value': 'data=1R/bytes',
  'mesos.v1.Environment': 'variables=1*',
  'mesos.v1.Environment.Variable': 'name=1R type=3:VALUE value=2 secret=4',
  'mesos.v1.KillPolicy': 'grace_period=1/DurationInfo',
  'mesos.v1.WeightInfo': 'weight=1R/double role=2',
  'mesos.v1.VersionInfo':
    'version=1R build_date=2 build_time=3/double build_user=4 git_sha=5 git_branch=6 git_tag=7',
  'mesos.v1.Flag': 'name=1R value=2/string',
  'mesos.v1.Metric': 'name=1R value=2/double',
  'mesos.v1.FileInfo':
    'path=1R nlink=2/int32 size=3/uint64 mtime=4/TimeInfo mode=5/uint32 uid=6/string gid=7/string',
  'mesos.v1.Role': 'name=1R weight=2R/double frameworks=3*/FrameworkID resources=4*/Resource',
  'mesos.v1.DrainConfig': 'max_grace_period=1/DurationInfo mark_gone=2:false/bool',
  'mesos.v1.DrainInfo': 'state=1R/DrainState config=2R/DrainConfig',
  'mesos.v1.RateLimit': 'qps=1/double principal=2R capacity=3/uint64',
  'mesos.v1.RateLimits': 'limits=1* aggregate_default_qps=2/double aggregate_default_capacity=3/uint64',

  // --- 6.2 values, attributes, resources
  'mesos.v1.Value': 'type=1R/Type scalar=2 ranges=3 set=4 text=5',
  'mesos.v1.Value.Scalar': 'value=1R/double',
  'mesos.v1.Value.Range': 'begin=1R/uint64 end=2R/uint64',
  'mesos.v1.Value.Ranges': 'range=1*',
  'mesos.v1.Value.Set': 'item=1*/string',
  'mesos.v1.Value.Text': 'value=1R/string',
  'mesos.v1.Attribute': 'name=1R type=2R/Value.Type scalar=3 ranges=4 set=6 text=5',
  'mesos.v1.Resource': `provider_id=12 name=1R type=2R/Value.Type scalar=3 ranges=4 set=5 role=6D:*
    allocation_info=11 reservation=8 reservations=13*/ReservationInfo disk=7 revocable=9 shared=10`,
  'mesos.v1.Resource.AllocationInfo': 'role=1/string',
  'mesos.v1.Resource.ReservationInfo': 'type=4/Type role=3 principal=1 labels=2/Labels',
  'mesos.v1.Resource.DiskInfo': 'persistence=1 volume=2/Volume source=3',
  'mesos.v1.Resource.DiskInfo.Persistence': 'id=1R principal=2',
  'mesos.v1.Resource.DiskInfo.Source': 'type=1R path=2 mount=3 vendor=7 id=4 metadata=5/Labels profile=6',
  'mesos.v1.Resource.DiskInfo.Source.Path': 'root=1',
  'mesos.v1.Resource.DiskInfo.Source.Mount': 'root=1',
  'mesos.v1.Resource.RevocableInfo': '',
  'mesos.v1.Resource.SharedInfo': '',
  'mesos.v1.OfferFilters': 'min_allocatable_resources=1',
  'mesos.v1.OfferFilters.MinAllocatableResources': 'quantities=1*/ResourceQuantities',
  'mesos.v1.OfferFilters.ResourceQuantities': 'quantities=1M',
  'mesos.v1.Request': 'agent_id=1 resources=2*',

  // --- 6.3 framework, master, agent info
  'mesos.v1.FrameworkInfo': `user=1R name=2R id=3 failover_timeout=4:0/double checkpoint=5:false/bool
    role=6D:*/string roles=12* hostname=7 principal=8 webui_url=9 capabilities=10* labels=11
    offer_filters=13M`,
  'mesos.v1.FrameworkInfo.Capability': 'type=1/Type',
  'mesos.v1.MasterInfo': `id=1R ip=2R/uint32 port=3R:5050/uint32 pid=4 hostname=5 version=6 address=7/Address
    domain=8 capabilities=9*`,
  'mesos.v1.MasterInfo.Capability': 'type=1',
  'mesos.v1.AgentInfo': 'hostname=1R port=8:5051/int32 resources=3* attributes=5* id=6/AgentID domain=10',
  'mesos.v1.AgentInfo.Capability': 'type=1',
  'mesos.v1.ResourceProviderInfo':
    'id=1 attributes=2* type=3R name=4R default_reservations=5*/Resource.ReservationInfo storage=6',
  'mesos.v1.ResourceProviderInfo.Storage': 'plugin=1R/CSIPluginInfo reconciliation_interval_seconds=2/double',
  'mesos.v1.CSIPluginInfo':
    'type=1R name=2:default containers=3* endpoints=4* target_path_root=5 target_path_exists=6/bool',
  'mesos.v1.CSIPluginContainerInfo': 'services=1*/Service command=2 resources=3* container=4',
  'mesos.v1.CSIPluginEndpoint': 'csi_service=1R/CSIPluginContainerInfo.Service endpoint=2R',

  // --- 6.4 offers and operations
  'mesos.v1.Offer': `id=1R/OfferID framework_id=2R agent_id=3R hostname=4R/string url=8 domain=11 resources=5*
    attributes=7* executor_ids=6* unavailability=9 allocation_info=10/Resource.AllocationInfo`,
  'mesos.v1.Offer.Operation': `type=1 id=12/OperationID launch=2 launch_group=7 reserve=3 unreserve=4 create=5
    destroy=6 grow_volume=13 shrink_volume=14 create_disk=15 destroy_disk=16`,
  'mesos.v1.Offer.Operation.Launch': 'task_infos=1*/TaskInfo',
  'mesos.v1.Offer.Operation.LaunchGroup': 'executor=1R/ExecutorInfo task_group=2R/TaskGroupInfo',
  'mesos.v1.Offer.Operation.Reserve': 'source=2* resources=1*',
  'mesos.v1.Offer.Operation.Unreserve': 'resources=1*',
  'mesos.v1.Offer.Operation.Create': 'volumes=1*',
  'mesos.v1.Offer.Operation.Destroy': 'volumes=1*',
  'mesos.v1.Offer.Operation.GrowVolume': 'volume=1R addition=2R',
  'mesos.v1.Offer.Operation.ShrinkVolume': 'volume=1R subtract=2R/Value.Scalar',
  'mesos.v1.Offer.Operation.CreateDisk': 'source=1R target_type=2R/Source.Type target_profile=3',
  'mesos.v1.Offer.Operation.DestroyDisk': 'source=1R',
  'mesos.v1.InverseOffer':
    'id=1R url=2 framework_id=3R agent_id=4 unavailability=5R/Unavailability resources=6*',
  'mesos.v1.OperationStatus': `operation_id=1 state=2R/OperationState message=3 converted_resources=4*
    uuid=5/UUID agent_id=6 resource_provider_id=7`,
  'mesos.v1.Operation':
    'framework_id=1 agent_id=2 info=3R/Offer.Operation latest_status=4R statuses=5* uuid=6R/UUID',

  // --- 6.5 tasks and executors
  'mesos.v1.TaskInfo': `name=1R task_id=2R agent_id=3R resources=4* executor=5 command=7 container=9
    health_check=8 check=13/CheckInfo kill_policy=12 data=6/bytes labels=10 discovery=11
    max_completion_time=14/DurationInfo limits=15M`,
  'mesos.v1.TaskGroupInfo': 'tasks=1*',
  'mesos.v1.Task': `name=1R task_id=2R framework_id=3R executor_id=4 agent_id=5R state=6R/TaskState
    resources=7* statuses=8*/TaskStatus status_update_state=9/TaskState status_update_uuid=10/bytes
    labels=11 discovery=12 container=13 health_check=15 kill_policy=16 user=14 limits=17M`,
  'mesos.v1.TaskStatus': `task_id=1R state=2R/TaskState message=4 source=9/Source reason=10/Reason
    data=3/bytes agent_id=5 executor_id=7 timestamp=6/double uuid=11/bytes healthy=8/bool
    check_status=15 labels=12 container_status=13 unreachable_time=14/TimeInfo
    limitation=16/TaskResourceLimitation`,
  'mesos.v1.TaskResourceLimitation': 'resources=1*',
  'mesos.v1.CheckStatusInfo': 'type=1/CheckInfo.Type command=2 http=3 tcp=4',
  'mesos.v1.CheckStatusInfo.Command': 'exit_code=1/int32',
  'mesos.v1.CheckStatusInfo.Http': 'status_code=1/uint32',
  'mesos.v1.CheckStatusInfo.Tcp': 'succeeded=1/bool',
  'mesos.v1.ContainerStatus': 'container_id=4 network_infos=1* cgroup_info=2 executor_pid=3/uint32',
  'mesos.v1.CgroupInfo': 'net_cls=1',
  'mesos.v1.CgroupInfo.NetCls': 'classid=1/uint32',
  'mesos.v1.ExecutorInfo': `type=15 executor_id=1R framework_id=8 command=7 container=11 resources=5* name=9
    source=10D data=4/bytes discovery=12 shutdown_grace_period=13 labels=14`,
  'mesos.v1.CommandInfo': 'uris=1* environment=2 shell=6:true/bool value=3 arguments=7* user=5',
  'mesos.v1.CommandInfo.URI': 'value=1R executable=2/bool extract=3:true cache=4 output_file=5',
  'mesos.v1.HealthCheck': `type=8 command=7 http=1/HTTPCheckInfo tcp=9/TCPCheckInfo delay_seconds=2:15/double
    interval_seconds=3:10 timeout_seconds=4:20 consecutive_failures=5:3/uint32 grace_period_seconds=6:10`,
  'mesos.v1.HealthCheck.HTTPCheckInfo': 'protocol=5:IPv4 scheme=3 port=1R/uint32 path=2 statuses=4*/uint32',
  'mesos.v1.HealthCheck.TCPCheckInfo': 'protocol=2:IPv4/NetworkInfo.Protocol port=1R/uint32',
  'mesos.v1.CheckInfo': `type=1 command=2 http=3 tcp=7 delay_seconds=4:15/double interval_seconds=5:10
    timeout_seconds=6:20`,
  'mesos.v1.CheckInfo.Command': 'command=1R/CommandInfo',
  'mesos.v1.CheckInfo.Http': 'port=1R/uint32 path=2',
  'mesos.v1.CheckInfo.Tcp': 'port=1R/uint32',
  'mesos.v1.DiscoveryInfo': 'visibility=1R name=2 environment=3 location=4 version=5 ports=6/Ports labels=7',
  'mesos.v1.Port': 'number=1R/uint32 name=2 protocol=3 visibility=4/DiscoveryInfo.Visibility labels=5',
  'mesos.v1.Ports': 'ports=1*',

  // --- 6.6 containers
  'mesos.v1.ContainerInfo': `type=1R volumes=2* hostname=4 docker=3 mesos=5 network_infos=7* linux_info=8
    rlimit_info=9 tty_info=10`,
  'mesos.v1.ContainerInfo.DockerInfo': `image=1R network=2:HOST port_mappings=3* privileged=4:false
    parameters=5* force_pull_image=6/bool volume_driver=7D`,
  'mesos.v1.ContainerInfo.DockerInfo.PortMapping': 'host_port=1R/uint32 container_port=2R/uint32 protocol=3',
  'mesos.v1.ContainerInfo.MesosInfo': 'image=1/Image',
  'mesos.v1.Image': 'type=1R appc=2 docker=3 cached=4:true',
  'mesos.v1.Image.Appc': 'name=1R id=2 labels=3',
  'mesos.v1.Image.Docker': 'name=1R credential=2D/Credential config=3/Secret',
  'mesos.v1.MountPropagation': 'mode=1',
  'mesos.v1.Volume': 'mode=3R/Mode container_path=1R host_path=2 image=4 source=5',
  'mesos.v1.Volume.Source':
    'type=1 docker_volume=2 host_path=5/HostPath sandbox_path=3 secret=4/Secret csi_volume=6',
  'mesos.v1.Volume.Source.DockerVolume': 'driver=1 name=2R driver_options=3/Parameters',
  'mesos.v1.Volume.Source.HostPath': 'path=1R mount_propagation=2',
  'mesos.v1.Volume.Source.SandboxPath': 'type=1 path=2R',
  'mesos.v1.Volume.Source.CSIVolume': 'plugin_name=1R static_provisioning=2',
  'mesos.v1.Volume.Source.CSIVolume.StaticProvisioning': `volume_id=1R volume_capability=2R
    node_stage_secrets=3M node_publish_secrets=4M volume_context=5M`,
  'mesos.v1.Volume.Source.CSIVolume.VolumeCapability': 'block=1 mount=2 access_mode=3R',
  'mesos.v1.Volume.Source.CSIVolume.VolumeCapability.MountVolume': 'fs_type=1 mount_flags=2*',
  'mesos.v1.Volume.Source.CSIVolume.VolumeCapability.AccessMode': 'mode=1R',
  'mesos.v1.NetworkInfo': 'ip_addresses=5* name=6 groups=3* labels=4 port_mappings=7*',
  'mesos.v1.NetworkInfo.IPAddress': 'protocol=1:IPv4/Protocol ip_address=2',
  'mesos.v1.NetworkInfo.PortMapping': 'host_port=1R/uint32 container_port=2R/uint32 protocol=3',
  'mesos.v1.CapabilityInfo': 'capabilities=1*/Capability',
  'mesos.v1.SeccompInfo': 'profile_name=1 unconfined=2/bool',
  'mesos.v1.LinuxInfo': `capability_info=1D bounding_capabilities=2 effective_capabilities=3
    share_pid_namespace=4/bool seccomp=5 ipc_mode=6/IpcMode shm_size=7/uint32 share_cgroups=8:true/bool`,
  'mesos.v1.RLimitInfo': 'rlimits=1*',
  'mesos.v1.RLimitInfo.RLimit': 'type=1 hard=2/uint64 soft=3/uint64',
  'mesos.v1.TTYInfo': 'window_size=1',
  'mesos.v1.TTYInfo.WindowSize': 'rows=1R/uint32 columns=2R/uint32',

  // --- usage statistics (agent GET_CONTAINERS, monitoring)
  'mesos.v1.ResourceStatistics': `timestamp=1R/double processes=30/uint32 threads=31/uint32
    cpus_user_time_secs=2/double cpus_system_time_secs=3 cpus_limit=4 cpus_soft_limit=45/double
    cpus_nr_periods=7/uint32 cpus_nr_throttled=8 cpus_throttled_time_secs=9 mem_total_bytes=36/uint64
    mem_total_memsw_bytes=37 mem_limit_bytes=6 mem_soft_limit_bytes=38 mem_file_bytes=10 mem_anon_bytes=11
    mem_cache_bytes=39 mem_rss_bytes=5 mem_mapped_file_bytes=12 mem_swap_bytes=40 mem_unevictable_bytes=41
    mem_low_pressure_counter=32 mem_medium_pressure_counter=33 mem_critical_pressure_counter=34
    disk_limit_bytes=26 disk_used_bytes=27 disk_statistics=43* blkio_statistics=44 perf=13
    net_rx_packets=14 net_rx_bytes=15 net_rx_errors=16 net_rx_dropped=17 net_tx_packets=18 net_tx_bytes=19
    net_tx_errors=20 net_tx_dropped=21 net_tcp_rtt_microsecs_p50=22 net_tcp_rtt_microsecs_p90=23
    net_tcp_rtt_microsecs_p95=24 net_tcp_rtt_microsecs_p99=25 net_tcp_active_connections=28/double
    net_tcp_time_wait_connections=29 net_traffic_control_statistics=35* net_snmp_statistics=42`,
  'mesos.v1.ResourceUsage': 'executors=1* total=2*',
  'mesos.v1.ResourceUsage.Executor':
    'executor_info=1R allocated=2* statistics=3 container_id=4R/ContainerID tasks=5*',
  'mesos.v1.ResourceUsage.Executor.Task': 'name=1R id=2R/TaskID resources=3* labels=4',
  'mesos.v1.DiskStatistics': 'source=1 persistence=2 limit_bytes=3/uint64 used_bytes=4/uint64',

  // --- 6.8 scheduler envelopes
  'mesos.v1.scheduler.Call': `framework_id=1 type=2/Call.Type subscribe=3 accept=4 decline=5 kill=6 shutdown=7
    acknowledge=8 reconcile=9 message=10 request=11 accept_inverse_offers=13 decline_inverse_offers=14
    revive=15 suppress=16 acknowledge_operation_status=17 reconcile_operations=18 update_framework=19`,
  'mesos.v1.scheduler.Call.Subscribe':
    'framework_info=1R/FrameworkInfo suppressed_roles=2* offer_constraints=3/OfferConstraints',
  'mesos.v1.scheduler.Call.Accept': 'offer_ids=1* operations=2*/Offer.Operation filters=3/Filters',
  'mesos.v1.scheduler.Call.Decline': 'offer_ids=1* filters=2',
  'mesos.v1.scheduler.Call.AcceptInverseOffers': 'inverse_offer_ids=1* filters=2',
  'mesos.v1.scheduler.Call.DeclineInverseOffers': 'inverse_offer_ids=1* filters=2',
  'mesos.v1.scheduler.Call.Revive': 'roles=1*/string',
  'mesos.v1.scheduler.Call.Suppress': 'roles=1*/string',
  'mesos.v1.scheduler.Call.Kill': 'task_id=1R agent_id=2 kill_policy=3',
  'mesos.v1.scheduler.Call.Shutdown': 'executor_id=1R agent_id=2R',
  'mesos.v1.scheduler.Call.Acknowledge': 'agent_id=1R task_id=2R uuid=3R/bytes',
  'mesos.v1.scheduler.Call.AcknowledgeOperationStatus':
    'agent_id=1 resource_provider_id=2 uuid=3R/bytes operation_id=4R',
  'mesos.v1.scheduler.Call.Reconcile': 'tasks=1*',
  'mesos.v1.scheduler.Call.Reconcile.Task': 'task_id=1R agent_id=2',
  'mesos.v1.scheduler.Call.ReconcileOperations': 'operations=1*',
  'mesos.v1.scheduler.Call.ReconcileOperations.Operation':
    'operation_id=1R agent_id=2 resource_provider_id=3',
  'mesos.v1.scheduler.Call.Message': 'agent_id=1R executor_id=2R data=3R/bytes',
  'mesos.v1.scheduler.Call.Request': 'requests=1*/mesos.v1.Request',
  'mesos.v1.scheduler.Call.UpdateFramework':
    'framework_info=1R suppressed_roles=2* offer_constraints=3/OfferConstraints',
  'mesos.v1.scheduler.Event': `type=1/Event.Type subscribed=2 offers=3 rescind=4 update=5 message=6 failure=7
    error=8 inverse_offers=9 rescind_inverse_offer=10 update_operation_status=11`,
  'mesos.v1.scheduler.Event.Subscribed':
    'framework_id=1R heartbeat_interval_seconds=2/double master_info=3/MasterInfo',
  'mesos.v1.scheduler.Event.Offers': 'offers=1*/Offer',
  'mesos.v1.scheduler.Event.InverseOffers': 'inverse_offers=1*/InverseOffer',
  'mesos.v1.scheduler.Event.Rescind': 'offer_id=1R/OfferID',
  'mesos.v1.scheduler.Event.RescindInverseOffer': 'inverse_offer_id=1R/OfferID',
  'mesos.v1.scheduler.Event.Update': 'status=1R/TaskStatus',
  'mesos.v1.scheduler.Event.UpdateOperationStatus': 'status=1R/OperationStatus',
  'mesos.v1.scheduler.Event.Message': 'agent_id=1R executor_id=2R data=3R/bytes',
  'mesos.v1.scheduler.Event.Failure': 'agent_id=1 executor_id=2 status=3/int32',
  'mesos.v1.scheduler.Event.Error': 'message=1R/string',
  'mesos.v1.scheduler.Response': 'type=1 reconcile_operations=2',
  'mesos.v1.scheduler.Response.ReconcileOperations': 'operation_statuses=1*',
  'mesos.v1.scheduler.APIResult': 'status_code=1R/uint32 response=2 error=3',
  'mesos.v1.scheduler.OfferConstraints': 'role_constraints=1M',
  'mesos.v1.scheduler.OfferConstraints.RoleConstraints': 'groups=1*',
  'mesos.v1.scheduler.OfferConstraints.RoleConstraints.Group': 'attribute_constraints=1*/AttributeConstraint',
  'mesos.v1.scheduler.AttributeConstraint': 'selector=1R/Selector predicate=2R/Predicate',
  'mesos.v1.scheduler.AttributeConstraint.Selector': 'pseudoattribute_type=1 attribute_name=2/string',
  'mesos.v1.scheduler.AttributeConstraint.Predicate':
    'exists=1 not_exists=2 text_equals=3 text_not_equals=4 text_matches=5 text_not_matches=6',
  'mesos.v1.scheduler.AttributeConstraint.Predicate.TextEquals': 'value=1R',
  'mesos.v1.scheduler.AttributeConstraint.Predicate.TextNotEquals': 'value=1R',
  'mesos.v1.scheduler.AttributeConstraint.Predicate.TextMatches': 'regex=1R',
  'mesos.v1.scheduler.AttributeConstraint.Predicate.TextNotMatches': 'regex=1R',

  // --- executor envelopes (section 3 / 6.8)
  'mesos.v1.executor.Call':
    'executor_id=1R/ExecutorID framework_id=2R/FrameworkID type=3 subscribe=4 update=5 message=6',
  'mesos.v1.executor.Call.Subscribe':
    'unacknowledged_tasks=1*/TaskInfo unacknowledged_updates=2*/Call.Update',
  'mesos.v1.executor.Call.Update': 'status=1R/TaskStatus',
  'mesos.v1.executor.Call.Message': 'data=2R/bytes',
  'mesos.v1.executor.Event':
    'type=1 subscribed=2 acknowledged=3 launch=4 kill=5 message=6 error=7 launch_group=8',
  'mesos.v1.executor.Event.Subscribed':
    'executor_info=1R framework_info=2R agent_info=3R/AgentInfo container_id=4/ContainerID',
  'mesos.v1.executor.Event.Launch': 'task=1R/TaskInfo',
  'mesos.v1.executor.Event.LaunchGroup': 'task_group=1R/TaskGroupInfo',
  'mesos.v1.executor.Event.Kill': 'task_id=1R kill_policy=2',
  'mesos.v1.executor.Event.Acknowledged': 'task_id=1R uuid=2R/bytes',
  'mesos.v1.executor.Event.Message': 'data=1R/bytes',
  'mesos.v1.executor.Event.Error': 'message=1R',

  // --- 4.1 master operator calls
  'mesos.v1.master.Call': `type=1 get_metrics=2 set_logging_level=3 list_files=4 read_file=5 update_weights=6
    reserve_resources=7 unreserve_resources=8 create_volumes=9 destroy_volumes=10
    update_maintenance_schedule=11 start_maintenance=12 stop_maintenance=13 set_quota=14D remove_quota=15D
    teardown=16 mark_agent_gone=17 grow_volume=18 shrink_volume=19 update_quota=20 drain_agent=21
    deactivate_agent=22 reactivate_agent=23 strata_subscribe=1000 strata_explain_offers=1001`,
  // Strata extension (docs/operator-api.md): resumable operator event streams.
  'mesos.v1.master.Call.StrataSubscribe': 'resume_after=1/uint64 master_id=2',
  // Strata extension: the allocator's explanation of missing offers.
  'mesos.v1.master.Call.StrataExplainOffers': 'framework_id=1R agent_id=2',
  'mesos.v1.master.Response.StrataExplainOffers': 'framework_id=1R explanations=2*',
  'mesos.v1.master.Response.StrataExplainOffers.Explanation':
    'agent_id=1R role=2R reason=3R message=4R filtered_until=5/TimeInfo',
  'mesos.v1.master.Call.GetMetrics': 'timeout=1/DurationInfo',
  'mesos.v1.master.Call.SetLoggingLevel': 'level=1R/uint32 duration=2R/DurationInfo',
  'mesos.v1.master.Call.ListFiles': 'path=1R',
  'mesos.v1.master.Call.ReadFile': 'path=1R offset=2R/uint64 length=3/uint64',
  'mesos.v1.master.Call.UpdateWeights': 'weight_infos=1*',
  'mesos.v1.master.Call.ReserveResources': 'agent_id=1R source=3* resources=2*',
  'mesos.v1.master.Call.UnreserveResources': 'agent_id=1R resources=2*',
  'mesos.v1.master.Call.CreateVolumes': 'agent_id=1R volumes=2*',
  'mesos.v1.master.Call.DestroyVolumes': 'agent_id=1R volumes=2*',
  'mesos.v1.master.Call.GrowVolume': 'agent_id=1 volume=2R addition=3R',
  'mesos.v1.master.Call.ShrinkVolume': 'agent_id=1 volume=2R subtract=3R/Value.Scalar',
  'mesos.v1.master.Call.UpdateMaintenanceSchedule': 'schedule=1R/maintenance.Schedule',
  'mesos.v1.master.Call.StartMaintenance': 'machines=1*/MachineID',
  'mesos.v1.master.Call.StopMaintenance': 'machines=1*/MachineID',
  'mesos.v1.master.Call.DrainAgent':
    'agent_id=1R max_grace_period=2/google.protobuf.Duration mark_gone=3:false/bool',
  'mesos.v1.master.Call.DeactivateAgent': 'agent_id=1R',
  'mesos.v1.master.Call.ReactivateAgent': 'agent_id=1R',
  'mesos.v1.master.Call.UpdateQuota': 'force=1/bool quota_configs=2*/quota.QuotaConfig',
  'mesos.v1.master.Call.SetQuota': 'quota_request=1R/quota.QuotaRequest',
  'mesos.v1.master.Call.RemoveQuota': 'role=1R',
  'mesos.v1.master.Call.Teardown': 'framework_id=1R',
  'mesos.v1.master.Call.MarkAgentGone': 'agent_id=1R',
  'mesos.v1.master.Response': `type=1 get_health=2 get_flags=3 get_version=4 get_metrics=5 get_logging_level=6
    list_files=7 read_file=8 get_state=9 get_agents=10 get_frameworks=11 get_executors=12 get_tasks=13
    get_roles=14 get_weights=15 get_master=16 get_maintenance_status=17 get_maintenance_schedule=18
    get_quota=19 get_operations=20 strata_explain_offers=1000`,
  'mesos.v1.master.Response.GetHealth': 'healthy=1R/bool',
  'mesos.v1.master.Response.GetFlags': 'flags=1*/Flag',
  'mesos.v1.master.Response.GetVersion': 'version_info=1R/VersionInfo',
  'mesos.v1.master.Response.GetMetrics': 'metrics=1*/Metric',
  'mesos.v1.master.Response.GetLoggingLevel': 'level=1R/uint32',
  'mesos.v1.master.Response.ListFiles': 'file_infos=1*/FileInfo',
  'mesos.v1.master.Response.ReadFile': 'size=1R/uint64 data=2R/bytes',
  'mesos.v1.master.Response.GetState': 'get_tasks=1 get_executors=2 get_frameworks=3 get_agents=4',
  'mesos.v1.master.Response.GetAgents': 'agents=1* recovered_agents=2*/AgentInfo',
  'mesos.v1.master.Response.GetAgents.Agent': `agent_info=1R active=2R/bool deactivated=12/bool
    version=3R/string pid=4 registered_time=5/TimeInfo reregistered_time=6/TimeInfo total_resources=7*
    allocated_resources=8* offered_resources=9* capabilities=10*/AgentInfo.Capability
    resource_providers=11* drain_info=13/DrainInfo estimated_drain_start_time=14/TimeInfo`,
  'mesos.v1.master.Response.GetAgents.Agent.ResourceProvider': 'resource_provider_info=1R total_resources=2*',
  'mesos.v1.master.Response.GetFrameworks': 'frameworks=1* completed_frameworks=2* recovered_frameworks=3D*',
  'mesos.v1.master.Response.GetFrameworks.Framework': `framework_info=1R active=2R/bool connected=3R/bool
    recovered=11R/bool registered_time=4 reregistered_time=5 unregistered_time=6 offers=7*
    inverse_offers=8* allocated_resources=9* offered_resources=10*
    offer_constraints=12/scheduler.OfferConstraints`,
  'mesos.v1.master.Response.GetExecutors': 'executors=1* orphan_executors=2D*',
  'mesos.v1.master.Response.GetExecutors.Executor': 'executor_info=1R agent_id=2R',
  'mesos.v1.master.Response.GetOperations': 'operations=1*/Operation',
  'mesos.v1.master.Response.GetTasks':
    'pending_tasks=1D* tasks=2* unreachable_tasks=5* completed_tasks=3* orphan_tasks=4D*',
  'mesos.v1.master.Response.GetRoles': 'roles=1*/Role',
  'mesos.v1.master.Response.GetWeights': 'weight_infos=1*',
  'mesos.v1.master.Response.GetMaster': 'master_info=1 start_time=2/double elected_time=3/double',
  'mesos.v1.master.Response.GetMaintenanceStatus': 'status=1R/maintenance.ClusterStatus',
  'mesos.v1.master.Response.GetMaintenanceSchedule': 'schedule=1R/maintenance.Schedule',
  'mesos.v1.master.Response.GetQuota': 'status=1R/quota.QuotaStatus',

  // --- 4.2 master event stream
  'mesos.v1.master.Event': `type=1 subscribed=2 task_added=3 task_updated=4 agent_added=5 agent_removed=6
    framework_added=7 framework_updated=8 framework_removed=9 strata_offset=1000/uint64`,
  'mesos.v1.master.Event.Subscribed': 'get_state=1/Response.GetState heartbeat_interval_seconds=2/double',
  'mesos.v1.master.Event.TaskAdded': 'task=1R/Task',
  'mesos.v1.master.Event.TaskUpdated': 'framework_id=1R status=2R/TaskStatus state=3R/TaskState',
  'mesos.v1.master.Event.AgentAdded': 'agent=1R/Response.GetAgents.Agent',
  'mesos.v1.master.Event.AgentRemoved': 'agent_id=1R',
  'mesos.v1.master.Event.FrameworkAdded': 'framework=1R/Response.GetFrameworks.Framework',
  'mesos.v1.master.Event.FrameworkUpdated': 'framework=1R/Response.GetFrameworks.Framework',
  'mesos.v1.master.Event.FrameworkRemoved': 'framework_info=1R/FrameworkInfo',

  // --- 4.3 agent operator calls
  'mesos.v1.agent.Call': `type=1 get_metrics=2 set_logging_level=3 list_files=4 read_file=5
    launch_nested_container=6D wait_nested_container=7D kill_nested_container=8D
    launch_nested_container_session=9 attach_container_input=10 attach_container_output=11
    remove_nested_container=12D launch_container=13 wait_container=14 kill_container=15 remove_container=16
    add_resource_provider_config=17 update_resource_provider_config=18 remove_resource_provider_config=19
    get_containers=20 prune_images=21 mark_resource_provider_gone=22`,
  'mesos.v1.agent.Call.GetMetrics': 'timeout=1',
  'mesos.v1.agent.Call.SetLoggingLevel': 'level=1R/uint32 duration=2R',
  'mesos.v1.agent.Call.ListFiles': 'path=1R',
  'mesos.v1.agent.Call.ReadFile': 'path=1R offset=2R/uint64 length=3/uint64',
  'mesos.v1.agent.Call.GetContainers': 'show_nested=1/bool show_standalone=2/bool',
  'mesos.v1.agent.Call.LaunchNestedContainer': 'container_id=1R command=2 container=3',
  'mesos.v1.agent.Call.WaitNestedContainer': 'container_id=1R',
  'mesos.v1.agent.Call.KillNestedContainer': 'container_id=1R signal=2/int32',
  'mesos.v1.agent.Call.RemoveNestedContainer': 'container_id=1R',
  'mesos.v1.agent.Call.LaunchNestedContainerSession': 'container_id=1R command=2 container=3',
  'mesos.v1.agent.Call.AttachContainerInput': 'type=1 container_id=2 process_io=3/ProcessIO',
  'mesos.v1.agent.Call.AttachContainerOutput': 'container_id=1R',
  'mesos.v1.agent.Call.LaunchContainer':
    'container_id=1R command=2/CommandInfo resources=3* container=4/ContainerInfo limits=5M',
  'mesos.v1.agent.Call.WaitContainer': 'container_id=1R',
  'mesos.v1.agent.Call.KillContainer': 'container_id=1R signal=2/int32',
  'mesos.v1.agent.Call.RemoveContainer': 'container_id=1R',
  'mesos.v1.agent.Call.AddResourceProviderConfig': 'info=1R/ResourceProviderInfo',
  'mesos.v1.agent.Call.UpdateResourceProviderConfig': 'info=1R/ResourceProviderInfo',
  'mesos.v1.agent.Call.RemoveResourceProviderConfig': 'type=1R/string name=2R',
  'mesos.v1.agent.Call.MarkResourceProviderGone': 'resource_provider_id=1R',
  'mesos.v1.agent.Call.PruneImages': 'excluded_images=1*/Image',
  'mesos.v1.agent.Response': `type=1 get_health=2 get_flags=3 get_version=4 get_metrics=5 get_logging_level=6
    list_files=7 read_file=8 get_state=9 get_containers=10 get_frameworks=11 get_executors=12 get_tasks=13
    wait_nested_container=14 get_agent=15 wait_container=16 get_resource_providers=17 get_operations=18`,
  'mesos.v1.agent.Response.GetState': 'get_tasks=1 get_executors=2 get_frameworks=3',
  'mesos.v1.agent.Response.GetContainers': 'containers=1*',
  'mesos.v1.agent.Response.GetContainers.Container': `framework_id=1 executor_id=2 executor_name=3
    container_id=4R container_status=5/ContainerStatus resource_statistics=6/ResourceStatistics`,
  'mesos.v1.agent.Response.GetFrameworks': 'frameworks=1* completed_frameworks=2*',
  'mesos.v1.agent.Response.GetFrameworks.Framework': 'framework_info=1R',
  'mesos.v1.agent.Response.GetExecutors': 'executors=1* completed_executors=2*',
  'mesos.v1.agent.Response.GetExecutors.Executor': 'executor_info=1R',
  'mesos.v1.agent.Response.GetTasks':
    'pending_tasks=1* queued_tasks=2* launched_tasks=3* terminated_tasks=4* completed_tasks=5*',
  'mesos.v1.agent.Response.GetAgent':
    'agent_info=1/AgentInfo drain_config=2/DrainConfig estimated_drain_start_time=3/TimeInfo',
  'mesos.v1.agent.Response.GetResourceProviders': 'resource_providers=1*',
  'mesos.v1.agent.Response.WaitContainer': `exit_status=1/int32 state=2/TaskState reason=3/TaskStatus.Reason
    limitation=4/TaskResourceLimitation message=5`,
  'mesos.v1.agent.Response.WaitNestedContainer': `exit_status=1/int32 state=2/TaskState
    reason=3/TaskStatus.Reason limitation=4 message=5`,
  'mesos.v1.agent.ProcessIO': 'type=1 data=2 control=3',
  'mesos.v1.agent.ProcessIO.Data': 'type=1 data=2/bytes',
  'mesos.v1.agent.ProcessIO.Control': 'type=1 tty_info=2/TTYInfo heartbeat=3',
  'mesos.v1.agent.ProcessIO.Control.Heartbeat': 'interval=1/DurationInfo',

  // --- quota, maintenance, allocator (6.8)
  'mesos.v1.quota.QuotaInfo': 'role=1 principal=2 guarantee=3*/Resource',
  'mesos.v1.quota.QuotaRequest': 'force=1/bool role=2 guarantee=3*',
  'mesos.v1.quota.QuotaConfig': 'role=1R guarantees=2M limits=3M',
  'mesos.v1.quota.QuotaStatus': 'infos=1D*/QuotaInfo configs=2*/QuotaConfig',
  'mesos.v1.maintenance.Window': 'machine_ids=1*/MachineID unavailability=2R/Unavailability',
  'mesos.v1.maintenance.Schedule': 'windows=1*',
  'mesos.v1.maintenance.ClusterStatus': 'draining_machines=1* down_machines=2*/MachineID',
  'mesos.v1.maintenance.ClusterStatus.DrainingMachine': 'id=1R statuses=2*/allocator.InverseOfferStatus',
  'mesos.v1.allocator.InverseOfferStatus': 'status=1R/Status framework_id=2R timestamp=3R/TimeInfo',
};

// ---------------------------------------------------------------------------------------------
// Enums (declaration order matters: the first value is the proto2 default).

const CAPABILITIES = [
  'CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE',
  'NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT',
  'SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE',
  'AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ',
  'PERFMON BPF CHECKPOINT_RESTORE',
]
  .join(' ')
  .split(' ')
  .map((name, i) => `${name}=${1000 + i}`)
  .join(' ');

const RLIMITS =
  'AS CORE CPU DATA FSIZE LOCKS MEMLOCK MSGQUEUE NICE NOFILE NPROC RSS RTPRIO RTTIME SIGPENDING STACK'
    .split(' ')
    .map((name, i) => `RLMT_${name}=${i + 1}`)
    .join(' ');

const ENUMS: Record<string, string> = {
  'mesos.v1.Status': 'DRIVER_NOT_STARTED=1 DRIVER_RUNNING=2 DRIVER_ABORTED=3 DRIVER_STOPPED=4',
  'mesos.v1.TaskState': `TASK_STAGING=6 TASK_STARTING=0 TASK_RUNNING=1 TASK_KILLING=8 TASK_FINISHED=2
    TASK_FAILED=3 TASK_KILLED=4 TASK_ERROR=7 TASK_LOST=5 TASK_DROPPED=9 TASK_UNREACHABLE=10 TASK_GONE=11
    TASK_GONE_BY_OPERATOR=12 TASK_UNKNOWN=13`,
  'mesos.v1.TaskStatus.Source': 'SOURCE_MASTER=0 SOURCE_AGENT=1 SOURCE_EXECUTOR=2',
  'mesos.v1.TaskStatus.Reason': `REASON_COMMAND_EXECUTOR_FAILED=0 REASON_CONTAINER_LAUNCH_FAILED=21
    REASON_CONTAINER_LIMITATION=19 REASON_CONTAINER_LIMITATION_DISK=20 REASON_CONTAINER_LIMITATION_MEMORY=8
    REASON_CONTAINER_PREEMPTED=17 REASON_CONTAINER_UPDATE_FAILED=22 REASON_MAX_COMPLETION_TIME_REACHED=33
    REASON_EXECUTOR_REGISTRATION_TIMEOUT=23 REASON_EXECUTOR_REREGISTRATION_TIMEOUT=24
    REASON_EXECUTOR_TERMINATED=1 REASON_EXECUTOR_UNREGISTERED=2 REASON_FRAMEWORK_REMOVED=3 REASON_GC_ERROR=4
    REASON_INVALID_FRAMEWORKID=5 REASON_INVALID_OFFERS=6 REASON_IO_SWITCHBOARD_EXITED=27
    REASON_MASTER_DISCONNECTED=7 REASON_RECONCILIATION=9 REASON_RESOURCES_UNKNOWN=18
    REASON_AGENT_DISCONNECTED=10 REASON_AGENT_DRAINING=34 REASON_AGENT_REMOVED=11
    REASON_AGENT_REMOVED_BY_OPERATOR=31 REASON_AGENT_REREGISTERED=32 REASON_AGENT_RESTARTED=12
    REASON_AGENT_UNKNOWN=13 REASON_TASK_KILLED_DURING_LAUNCH=30 REASON_TASK_CHECK_STATUS_UPDATED=28
    REASON_TASK_HEALTH_CHECK_STATUS_UPDATED=29 REASON_TASK_GROUP_INVALID=25 REASON_TASK_GROUP_UNAUTHORIZED=26
    REASON_TASK_INVALID=14 REASON_TASK_UNAUTHORIZED=15 REASON_TASK_UNKNOWN=16`,
  'mesos.v1.OperationState': `OPERATION_UNSUPPORTED=0 OPERATION_PENDING=1 OPERATION_FINISHED=2
    OPERATION_FAILED=3 OPERATION_ERROR=4 OPERATION_DROPPED=5 OPERATION_UNREACHABLE=6
    OPERATION_GONE_BY_OPERATOR=7 OPERATION_RECOVERING=8 OPERATION_UNKNOWN=9`,
  'mesos.v1.DrainState': 'UNKNOWN=0 DRAINING=1 DRAINED=2',
  'mesos.v1.MachineInfo.Mode': 'UP=1 DRAINING=2 DOWN=3',
  'mesos.v1.Value.Type': 'SCALAR=0 RANGES=1 SET=2 TEXT=3',
  'mesos.v1.FrameworkInfo.Capability.Type': `UNKNOWN=0 REVOCABLE_RESOURCES=1 TASK_KILLING_STATE=2
    GPU_RESOURCES=3 SHARED_RESOURCES=4 PARTITION_AWARE=5 MULTI_ROLE=6 RESERVATION_REFINEMENT=7 REGION_AWARE=8`,
  'mesos.v1.MasterInfo.Capability.Type': 'UNKNOWN=0 AGENT_UPDATE=1 AGENT_DRAINING=2 QUOTA_V2=3',
  'mesos.v1.AgentInfo.Capability.Type': `UNKNOWN=0 MULTI_ROLE=1 HIERARCHICAL_ROLE=2 RESERVATION_REFINEMENT=3
    RESOURCE_PROVIDER=4 RESIZE_VOLUME=5 AGENT_OPERATION_FEEDBACK=6 AGENT_DRAINING=7 TASK_RESOURCE_LIMITS=8`,
  'mesos.v1.Resource.ReservationInfo.Type': 'UNKNOWN=0 STATIC=1 DYNAMIC=2',
  'mesos.v1.Resource.DiskInfo.Source.Type': 'UNKNOWN=0 PATH=1 MOUNT=2 BLOCK=3 RAW=4',
  'mesos.v1.Offer.Operation.Type': `UNKNOWN=0 LAUNCH=1 LAUNCH_GROUP=6 RESERVE=2 UNRESERVE=3 CREATE=4 DESTROY=5
    GROW_VOLUME=11 SHRINK_VOLUME=12 CREATE_DISK=13 DESTROY_DISK=14`,
  'mesos.v1.ExecutorInfo.Type': 'UNKNOWN=0 DEFAULT=1 CUSTOM=2',
  'mesos.v1.HealthCheck.Type': 'UNKNOWN=0 COMMAND=1 HTTP=2 TCP=3',
  'mesos.v1.CheckInfo.Type': 'UNKNOWN=0 COMMAND=1 HTTP=2 TCP=3',
  'mesos.v1.DiscoveryInfo.Visibility': 'FRAMEWORK=0 CLUSTER=1 EXTERNAL=2',
  'mesos.v1.Environment.Variable.Type': 'UNKNOWN=0 VALUE=1 SECRET=2',
  'mesos.v1.Secret.Type': 'UNKNOWN=0 REFERENCE=1 VALUE=2',
  'mesos.v1.ContainerInfo.Type': 'DOCKER=1 MESOS=2',
  'mesos.v1.ContainerInfo.DockerInfo.Network': 'HOST=1 BRIDGE=2 NONE=3 USER=4',
  'mesos.v1.Image.Type': 'APPC=1 DOCKER=2',
  'mesos.v1.Volume.Mode': 'RW=1 RO=2',
  'mesos.v1.Volume.Source.Type': 'UNKNOWN=0 DOCKER_VOLUME=1 HOST_PATH=4 SANDBOX_PATH=2 SECRET=3 CSI_VOLUME=5',
  'mesos.v1.Volume.Source.SandboxPath.Type': 'UNKNOWN=0 SELF=1 PARENT=2',
  'mesos.v1.Volume.Source.CSIVolume.VolumeCapability.AccessMode.Mode': `UNKNOWN=0 SINGLE_NODE_WRITER=1
    SINGLE_NODE_READER_ONLY=2 MULTI_NODE_READER_ONLY=3 MULTI_NODE_SINGLE_WRITER=4 MULTI_NODE_MULTI_WRITER=5`,
  'mesos.v1.MountPropagation.Mode': 'UNKNOWN=0 HOST_TO_CONTAINER=1 BIDIRECTIONAL=2',
  'mesos.v1.NetworkInfo.Protocol': 'IPv4=1 IPv6=2',
  'mesos.v1.LinuxInfo.IpcMode': 'UNKNOWN=0 PRIVATE=1 SHARE_PARENT=2',
  'mesos.v1.CapabilityInfo.Capability': `UNKNOWN=0 ${CAPABILITIES}`,
  'mesos.v1.RLimitInfo.RLimit.Type': `UNKNOWN=0 ${RLIMITS}`,
  'mesos.v1.CgroupInfo.Blkio.Operation': 'UNKNOWN=0 TOTAL=1 READ=2 WRITE=3 SYNC=4 ASYNC=5 DISCARD=6',
  'mesos.v1.CSIPluginContainerInfo.Service': 'UNKNOWN=0 CONTROLLER_SERVICE=1 NODE_SERVICE=2',

  'mesos.v1.scheduler.Call.Type': `UNKNOWN=0 SUBSCRIBE=1 TEARDOWN=2 ACCEPT=3 DECLINE=4 ACCEPT_INVERSE_OFFERS=13
    DECLINE_INVERSE_OFFERS=14 REVIVE=5 KILL=6 SHUTDOWN=7 ACKNOWLEDGE=8 ACKNOWLEDGE_OPERATION_STATUS=15
    RECONCILE=9 RECONCILE_OPERATIONS=16 MESSAGE=10 REQUEST=11 SUPPRESS=12 UPDATE_FRAMEWORK=17`,
  'mesos.v1.scheduler.Event.Type': `UNKNOWN=0 SUBSCRIBED=1 OFFERS=2 INVERSE_OFFERS=9 RESCIND=3
    RESCIND_INVERSE_OFFER=10 UPDATE=4 UPDATE_OPERATION_STATUS=11 MESSAGE=5 FAILURE=6 ERROR=7 HEARTBEAT=8`,
  'mesos.v1.scheduler.Response.Type': 'UNKNOWN=0 RECONCILE_OPERATIONS=1',
  'mesos.v1.scheduler.AttributeConstraint.Selector.PseudoattributeType':
    'UNKNOWN=0 HOSTNAME=1 REGION=2 ZONE=3',

  'mesos.v1.executor.Call.Type': 'UNKNOWN=0 SUBSCRIBE=1 UPDATE=2 MESSAGE=3 HEARTBEAT=4',
  'mesos.v1.executor.Event.Type': `UNKNOWN=0 SUBSCRIBED=1 LAUNCH=2 LAUNCH_GROUP=8 KILL=3 ACKNOWLEDGED=4
    MESSAGE=5 ERROR=6 SHUTDOWN=7 HEARTBEAT=9`,

  'mesos.v1.master.Call.Type': `UNKNOWN=0 GET_HEALTH=1 GET_FLAGS=2 GET_VERSION=3 GET_METRICS=4
    GET_LOGGING_LEVEL=5 SET_LOGGING_LEVEL=6 LIST_FILES=7 READ_FILE=8 GET_STATE=9 GET_AGENTS=10
    GET_FRAMEWORKS=11 GET_EXECUTORS=12 GET_OPERATIONS=33 GET_TASKS=13 GET_ROLES=14 GET_WEIGHTS=15
    UPDATE_WEIGHTS=16 GET_MASTER=17 SUBSCRIBE=18 RESERVE_RESOURCES=19 UNRESERVE_RESOURCES=20
    CREATE_VOLUMES=21 DESTROY_VOLUMES=22 GROW_VOLUME=34 SHRINK_VOLUME=35 GET_MAINTENANCE_STATUS=23
    GET_MAINTENANCE_SCHEDULE=24 UPDATE_MAINTENANCE_SCHEDULE=25 START_MAINTENANCE=26 STOP_MAINTENANCE=27
    DRAIN_AGENT=37 DEACTIVATE_AGENT=38 REACTIVATE_AGENT=39 GET_QUOTA=28 UPDATE_QUOTA=36 SET_QUOTA=29
    REMOVE_QUOTA=30 TEARDOWN=31 MARK_AGENT_GONE=32 STRATA_EXPLAIN_OFFERS=1000`,
  'mesos.v1.master.Response.Type': `UNKNOWN=0 GET_HEALTH=1 GET_FLAGS=2 GET_VERSION=3 GET_METRICS=4
    GET_LOGGING_LEVEL=5 LIST_FILES=6 READ_FILE=7 GET_STATE=8 GET_AGENTS=9 GET_FRAMEWORKS=10
    GET_EXECUTORS=11 GET_OPERATIONS=19 GET_TASKS=12 GET_ROLES=13 GET_WEIGHTS=14 GET_MASTER=15
    GET_MAINTENANCE_STATUS=16 GET_MAINTENANCE_SCHEDULE=17 GET_QUOTA=18 STRATA_EXPLAIN_OFFERS=1000`,
  'mesos.v1.master.Event.Type': `UNKNOWN=0 SUBSCRIBED=1 TASK_ADDED=2 TASK_UPDATED=3 AGENT_ADDED=4
    AGENT_REMOVED=5 FRAMEWORK_ADDED=6 FRAMEWORK_UPDATED=7 FRAMEWORK_REMOVED=8 HEARTBEAT=9`,

  'mesos.v1.agent.Call.Type': `UNKNOWN=0 GET_HEALTH=1 GET_FLAGS=2 GET_VERSION=3 GET_METRICS=4
    GET_LOGGING_LEVEL=5 SET_LOGGING_LEVEL=6 LIST_FILES=7 READ_FILE=8 GET_STATE=9 GET_CONTAINERS=10
    GET_FRAMEWORKS=11 GET_EXECUTORS=12 GET_OPERATIONS=31 GET_TASKS=13 GET_AGENT=20 GET_RESOURCE_PROVIDERS=26
    LAUNCH_NESTED_CONTAINER=14 WAIT_NESTED_CONTAINER=15 KILL_NESTED_CONTAINER=16 REMOVE_NESTED_CONTAINER=21
    LAUNCH_NESTED_CONTAINER_SESSION=17 ATTACH_CONTAINER_INPUT=18 ATTACH_CONTAINER_OUTPUT=19
    LAUNCH_CONTAINER=22 WAIT_CONTAINER=23 KILL_CONTAINER=24 REMOVE_CONTAINER=25
    ADD_RESOURCE_PROVIDER_CONFIG=27 UPDATE_RESOURCE_PROVIDER_CONFIG=28 REMOVE_RESOURCE_PROVIDER_CONFIG=29
    MARK_RESOURCE_PROVIDER_GONE=32 PRUNE_IMAGES=30`,
  'mesos.v1.agent.Response.Type': `UNKNOWN=0 GET_HEALTH=1 GET_FLAGS=2 GET_VERSION=3 GET_METRICS=4
    GET_LOGGING_LEVEL=5 LIST_FILES=6 READ_FILE=7 GET_STATE=8 GET_CONTAINERS=9 GET_FRAMEWORKS=10
    GET_EXECUTORS=11 GET_OPERATIONS=17 GET_TASKS=12 GET_AGENT=14 GET_RESOURCE_PROVIDERS=16
    WAIT_NESTED_CONTAINER=13 WAIT_CONTAINER=15`,
  'mesos.v1.agent.Call.AttachContainerInput.Type': 'UNKNOWN=0 CONTAINER_ID=1 PROCESS_IO=2',
  'mesos.v1.agent.ProcessIO.Type': 'UNKNOWN=0 DATA=1 CONTROL=2',
  'mesos.v1.agent.ProcessIO.Data.Type': 'UNKNOWN=0 STDIN=1 STDOUT=2 STDERR=3',
  'mesos.v1.agent.ProcessIO.Control.Type': 'UNKNOWN=0 TTY_INFO=1 HEARTBEAT=2',

  'mesos.v1.allocator.InverseOfferStatus.Status': 'UNKNOWN=1 ACCEPT=2 DECLINE=3',
};

// ---------------------------------------------------------------------------------------------

describe('mesos.v1 proto schema', () => {
  it('declares the exact proto packages (they appear in type URLs)', () => {
    const packages = [
      file_mesos_v1_mesos,
      file_mesos_v1_scheduler_scheduler,
      file_mesos_v1_executor_executor,
      file_mesos_v1_master_master,
      file_mesos_v1_agent_agent,
      file_mesos_v1_quota_quota,
      file_mesos_v1_maintenance_maintenance,
      file_mesos_v1_allocator_allocator,
    ].map(
      (f) => `${f.name}:${f.proto.package}:${f.edition === Edition.EDITION_PROTO2 ? 'proto2' : f.edition}`,
    );
    assert.deepEqual(packages, [
      'mesos/v1/mesos:mesos.v1:proto2',
      'mesos/v1/scheduler/scheduler:mesos.v1.scheduler:proto2',
      'mesos/v1/executor/executor:mesos.v1.executor:proto2',
      'mesos/v1/master/master:mesos.v1.master:proto2',
      'mesos/v1/agent/agent:mesos.v1.agent:proto2',
      'mesos/v1/quota/quota:mesos.v1.quota:proto2',
      'mesos/v1/maintenance/maintenance:mesos.v1.maintenance:proto2',
      'mesos/v1/allocator/allocator:mesos.v1.allocator:proto2',
    ]);
  });

  it('matches every listed message: field names, numbers, labels, defaults, deprecation, types', () => {
    const problems: string[] = [];
    for (const [typeName, spec] of Object.entries(MESSAGES)) {
      const desc = registry.getMessage(typeName);
      if (desc === undefined) problems.push(`${typeName}: message missing`);
      else problems.push(...messageMismatches(desc, spec));
    }
    assert.deepEqual(problems, []);
    assert.ok(Object.keys(MESSAGES).length > 250, 'the table should stay substantial');
  });

  it('matches every listed enum value and its declaration order', () => {
    const problems = Object.entries(ENUMS).flatMap(([typeName, spec]) => enumMismatches(typeName, spec));
    assert.deepEqual(problems, []);
  });

  it('keeps the oneofs of the offer constraint language', () => {
    const selector = registry.getMessage('mesos.v1.scheduler.AttributeConstraint.Selector');
    const predicate = registry.getMessage('mesos.v1.scheduler.AttributeConstraint.Predicate');
    const capability = registry.getMessage('mesos.v1.Volume.Source.CSIVolume.VolumeCapability');
    assert.deepEqual(
      selector?.oneofs.map((o) => [o.name, o.fields.map((f) => f.name)]),
      [['selector', ['pseudoattribute_type', 'attribute_name']]],
    );
    assert.deepEqual(
      predicate?.oneofs.map((o) => [o.name, o.fields.map((f) => f.number)]),
      [['predicate', [1, 2, 3, 4, 5, 6]]],
    );
    assert.deepEqual(
      capability?.oneofs.map((o) => [o.name, o.fields.map((f) => f.name)]),
      [['access_type', ['block', 'mount']]],
    );
  });

  it('has no generated descriptor fields outside the table for the API envelopes', () => {
    // Catches a field added to an envelope without the table (and so without review).
    const envelopes = [
      'mesos.v1.scheduler.Call',
      'mesos.v1.scheduler.Event',
      'mesos.v1.executor.Call',
      'mesos.v1.executor.Event',
      'mesos.v1.master.Call',
      'mesos.v1.master.Response',
      'mesos.v1.master.Event',
      'mesos.v1.agent.Call',
      'mesos.v1.agent.Response',
    ];
    for (const name of envelopes) {
      const desc = registry.getMessage(name);
      assert.ok(desc !== undefined, name);
      const spec = MESSAGES[name];
      assert.ok(spec !== undefined, name);
      assert.equal(desc.fields.length, parseSpec(spec).length, name);
    }
  });

  it('reports mismatches for a wrong spec (the checker can fail)', () => {
    const resource = registry.getMessage('mesos.v1.Resource');
    assert.ok(resource !== undefined);
    const good = MESSAGES['mesos.v1.Resource'] ?? '';
    assert.deepEqual(messageMismatches(resource, good), []);
    assert.deepEqual(messageMismatches(resource, good.replace('reservations=13*', 'reservations=14*')), [
      'mesos.v1.Resource.reservations: number 13, want 14',
    ]);
    assert.deepEqual(messageMismatches(resource, good.replace('role=6D:*', 'role=6D')), [
      'mesos.v1.Resource.role: default *, want undefined',
    ]);
    assert.deepEqual(messageMismatches(resource, good.replace('name=1R', 'name=1')), [
      'mesos.v1.Resource.name: required, want optional',
    ]);
    assert.deepEqual(messageMismatches(resource, good.replace(' shared=10', '')), [
      'mesos.v1.Resource.shared=10: not in the spec',
    ]);
    assert.deepEqual(enumMismatches('mesos.v1.Value.Type', 'SCALAR=0 RANGES=1 TEXT=3 SET=2'), [
      'mesos.v1.Value.Type value #2: SET=2, want TEXT=3',
      'mesos.v1.Value.Type value #3: TEXT=3, want SET=2',
    ]);
  });

  it('applies proto2 defaults on read: first enum value and declared defaults', () => {
    const status = create(TaskStatusSchema);
    assert.equal(status.state, TaskState.TASK_STAGING);
    assert.equal(status.source, TaskStatus_Source.MASTER);
    assert.equal(create(FiltersSchema).refuseSeconds, 5);
    assert.equal(isFieldSet(create(FiltersSchema), FiltersSchema.field.refuseSeconds), false);
    assert.equal(create(ResourceSchema).role, '*');
  });

  it('encodes to the bytes a Mesos peer produces', () => {
    // scheduler.Call{framework_id{value:"f"}, type:ACKNOWLEDGE, acknowledge{agent_id{"a"}, task_id{"t"},
    // uuid:0x01 0x02}}: field order is by number, every value a plain length-delimited or varint.
    const call = create(SchedulerCallSchema, {
      frameworkId: { value: 'f' },
      type: SchedulerCallType.ACKNOWLEDGE,
      acknowledge: { agentId: { value: 'a' }, taskId: { value: 't' }, uuid: new Uint8Array([1, 2]) },
    });
    const bytes = toBinary(SchedulerCallSchema, call);
    assert.deepEqual(
      [...bytes],
      [
        0x0a, 3, 0x0a, 1, 0x66, 0x10, 8, 0x42, 0x0e, 0x0a, 3, 0x0a, 1, 0x61, 0x12, 3, 0x0a, 1, 0x74, 0x1a, 2,
        1, 2,
      ],
    );
    // Resource{name:"cpus", type:SCALAR, scalar{value:0.5}}: an explicitly set SCALAR (0) is emitted.
    const cpus = toBinary(
      ResourceSchema,
      create(ResourceSchema, { name: 'cpus', type: Value_Type.SCALAR, scalar: { value: 0.5 } }),
    );
    assert.deepEqual(
      [...cpus],
      [0x0a, 4, 0x63, 0x70, 0x75, 0x73, 0x10, 0, 0x1a, 9, 0x09, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f],
    );
    const back = fromBinary(ResourceSchema, cpus);
    assert.equal(back.scalar?.value, 0.5);
    assert.equal(back.role, '*');
  });
});
