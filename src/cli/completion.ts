/**
 * `strata completion bash|zsh`: a completion script generated from the commander program itself
 * (every command, subcommand and option), so it never drifts from the real surface.
 */
import type { Command } from 'commander';
import { CliError } from './api.js';
import { examples } from './options.js';

/** `path words` → the words to offer after them (subcommands and options). */
export function completionTable(program: Command): Map<string, string[]> {
  const table = new Map<string, string[]>();
  const walk = (cmd: Command, path: string) => {
    const words = [
      ...cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden).map((c) => c.name()),
      ...cmd.options.map((o) => o.long ?? o.short ?? '').filter((o) => o !== ''),
      '--help',
    ];
    table.set(path, words);
    for (const sub of cmd.commands) walk(sub, path ? `${path} ${sub.name()}` : sub.name());
  };
  walk(program, '');
  return table;
}

export function bashScript(program: Command): string {
  const cases = [...completionTable(program)]
    .map(([path, words]) => `    "${path}") words="${words.join(' ')}" ;;`)
    .join('\n');
  return `# strata bash completion: eval "$(strata completion bash)"
_strata() {
  local cur path words i w
  cur="\${COMP_WORDS[COMP_CWORD]}"
  path=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    if [[ -z "$path" ]]; then path="$w"; else path="$path $w"; fi
  done
  case "$path" in
${cases}
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _strata strata
`;
}

export function zshScript(program: Command): string {
  return `#compdef strata
# strata zsh completion: eval "$(strata completion zsh)" (or save as _strata on $fpath)
autoload -U +X bashcompinit && bashcompinit
${bashScript(program)}`;
}

export function registerCompletion(program: Command): void {
  const cmd = program
    .command('completion <shell>')
    .description('print a shell completion script (bash or zsh)');
  examples(cmd, [
    'eval "$(strata completion bash)"     # in ~/.bashrc',
    'eval "$(strata completion zsh)"      # in ~/.zshrc',
  ]);
  cmd.action((shell: string) => {
    if (shell === 'bash') process.stdout.write(bashScript(program));
    else if (shell === 'zsh') process.stdout.write(zshScript(program));
    else throw new CliError(`unsupported shell '${shell}' (bash or zsh)`, 2);
  });
}
