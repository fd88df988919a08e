/**
 * Any command-line agent that reads a prompt on its standard input and writes
 * its answer as text (`llm`, a shell script, `aider --message-file -`…). Such
 * agents answer one prompt and exit, so the sandbox runs a small loop around
 * the profile's command: each turn starts the command afresh with the prompt
 * on stdin, and a marker line (with a nonce the agent is not told in advance)
 * ends the turn with its exit status. An interrupt ends the turn's whole
 * process group.
 */
import { randomBytes } from 'node:crypto';
import { LineSplitter, type AgentAdapter, type AgentDecoder, type AgentEvent } from './agent-adapter.js';

/** One turn: the prompt (base64) decoded onto the agent's stdin, then the end marker with its status. */
const TURN = 'p="$1"; mark="$2"; shift 2; printf "%s" "$p" | base64 -d | "$@"; printf "\\n%s end %s\\n" "$mark" "$?"';

/**
 * The loop, for POSIX sh. A turn arrives as `turn <base64 of the prompt>`, an
 * interrupt as `interrupt`. Each turn runs under `setsid`, so it is its own
 * process group and an interrupt reaches the agent's children too (sh has no
 * job control without a terminal); an image without setsid loses only that:
 * its interrupt stops the turn's shell, and the marker still ends the turn.
 * An agent that ignores SIGTERM gets SIGKILL two seconds later.
 */
const TURN_LOOP = [
  'mark="$1"; shift; pid=""',
  'if command -v setsid >/dev/null 2>&1; then group=setsid; else group=; fi',
  'while IFS= read -r line; do',
  '  case "$line" in',
  '    "turn "*) [ -n "$pid" ] && wait "$pid"; $group sh -c "$TURN" cordon-turn "${line#turn }" "$mark" "$@" & pid=$! ;;',
  '    interrupt) [ -n "$pid" ] && { kill -TERM "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null; { sleep 2; kill -KILL "-$pid" "$pid"; } 2>/dev/null & wait "$pid" 2>/dev/null; printf "\\n%s interrupted\\n" "$mark"; pid=""; } ;;',
  '  esac',
  'done',
  'if [ -n "$pid" ]; then wait "$pid"; fi',
].join('\n');

export class PromptTextAdapter implements AgentAdapter {
  readonly agent: string;
  private readonly mark = `\u001ecordon-turn-${randomBytes(8).toString('hex')}`;

  constructor(agent = 'generic') {
    this.agent = agent;
  }

  command(profileCommand: readonly string[]): string[] {
    return ['sh', '-c', `TURN='${TURN.replace(/'/g, `'\\''`)}'\n${TURN_LOOP}`, 'cordon-chat', this.mark, ...profileCommand];
  }

  encodeTurn(text: string): string {
    // A line, as a person typing at the agent would end it.
    return `turn ${Buffer.from(`${text}\n`, 'utf8').toString('base64')}\n`;
  }

  encodeInterrupt(): string {
    return 'interrupt\n';
  }

  decoder(): AgentDecoder {
    // Lines of text up to 64 KB; the agent's output streams line by line.
    const lines = new LineSplitter(64 * 1024);
    // Empty lines are held until a line of text follows: the last one before a
    // marker is the loop's own (it starts the marker on a fresh line).
    let blanks = 0;
    const decode = ({ lines: ls, dropped }: { lines: string[]; dropped: number }): AgentEvent[] => {
      const out: AgentEvent[] = [];
      for (let i = 0; i < dropped; i++) out.push({ type: 'rejected', reason: 'a line longer than 64 KB' });
      let text = '';
      const flush = (): void => {
        if (text !== '') out.push({ type: 'text', text, append: true });
        text = '';
      };
      for (const line of ls) {
        if (line.startsWith(this.mark)) {
          text += '\n'.repeat(Math.max(0, blanks - 1));
          blanks = 0;
          flush();
          const rest = line.slice(this.mark.length).trim();
          if (rest === 'interrupted') out.push({ type: 'turn_end', ok: false, interrupted: true, message: null });
          else {
            const code = Number(/^end (\d+)$/.exec(rest)?.[1] ?? NaN);
            out.push({ type: 'turn_end', ok: code === 0, interrupted: false, message: code === 0 ? null : `the agent exited with status ${Number.isNaN(code) ? 'unknown' : code}` });
          }
        } else if (line === '') {
          blanks++;
        } else {
          text += `${'\n'.repeat(blanks)}${line}\n`;
          blanks = 0;
        }
      }
      flush();
      return out;
    };
    return {
      push: (chunk) => decode(lines.push(chunk)),
      end: () => {
        const rest = lines.rest();
        return rest === '' ? [] : decode({ lines: [rest], dropped: 0 });
      },
    };
  }
}

