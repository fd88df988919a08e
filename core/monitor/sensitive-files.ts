/**
 * Which files in a workspace are sensitive (issue 20, item 3; threat W2):
 * places where a file runs code on the user's machine later — when they open
 * the folder, cd into it, run git, npm or an editor task — anywhere in the
 * tree, nested repositories included (launch-time write protection covers
 * only the workspace's own `.git`). Pure: a path relative to the workspace
 * root ('/'-separated) and, for git configs, its text.
 */

/** Built-in patterns: a bare name matches a file of that name anywhere; a path matches as a suffix. */
export const BUILTIN_SENSITIVE = [
  '.envrc',
  '.env.local',
  '.npmrc',
  '.yarnrc',
  '.yarnrc.yml',
  '.pypirc',
  '.pre-commit-config.yaml',
  '.gitmodules',
  '.vscode/tasks.json',
  '.vscode/settings.json',
  '.vscode/launch.json',
  '.devcontainer/devcontainer.json',
  '.idea/workspace.xml',
  '.mcp.json',
  '.claude/settings.json',
] as const;

export type SensitiveMatch = { readonly sensitive: false } | { readonly sensitive: true; readonly reason: string };

/**
 * Git configuration keys that make git run a program: hooks elsewhere, a
 * file-system monitor, the ssh command, clean/smudge/process filters, an
 * external diff, a pager or editor, and includes that could pull any of them in.
 */
const RISKY_GIT_KEYS: ReadonlyArray<{ section: RegExp; key: RegExp; name: string }> = [
  { section: /^core$/, key: /^(hookspath|fsmonitor|sshcommand|pager|editor|askpass|gitproxy)$/, name: 'core.$key' },
  { section: /^filter\b/, key: /^(clean|smudge|process)$/, name: 'filter.*.$key' },
  { section: /^diff$/, key: /^external$/, name: 'diff.external' },
  { section: /^diff\b/, key: /^(textconv|command)$/, name: 'diff.*.$key' },
  { section: /^include(if)?\b/, key: /^path$/, name: 'include.path' },
  { section: /^(sequence|gpg|credential|uploadpack|receive)\b/, key: /^(editor|program|helper|packobjectshook|procreceive)$/, name: '$section.$key' },
];

/** The risky settings a git config TEXT sets (lower-cased `section.key` names); empty when none. */
export function riskyGitSettings(text: string): string[] {
  const found = new Set<string>();
  let section = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (line === '') continue;
    const header = /^\[\s*([A-Za-z0-9.-]+)(?:\s+"[^"]*")?\s*\]\s*(.*)$/.exec(line);
    let rest = line;
    if (header) {
      section = (header[1] ?? '').toLowerCase();
      rest = header[2] ?? '';
      if (rest === '') continue;
    }
    const key = /^([A-Za-z][A-Za-z0-9-]*)\s*(=|$)/.exec(rest)?.[1]?.toLowerCase();
    if (!key) continue;
    for (const r of RISKY_GIT_KEYS) {
      if (r.section.test(section) && r.key.test(key)) found.add(r.name.replace('$key', key).replace('$section', section.split('.')[0] ?? section));
    }
  }
  return [...found].sort();
}

/**
 * Whether REL (relative to a workspace root) is sensitive. GITCONFIG reads a
 * `.git/config`'s text when needed (bounded by the caller); null when unreadable.
 */
export function judgeSensitive(rel: string, extra: readonly string[], gitConfig: () => string | null): SensitiveMatch {
  const parts = rel.split('/').filter((p) => p !== '');
  const n = parts.length;
  const gitAt = parts.lastIndexOf('.git');
  if (gitAt >= 0 && parts[gitAt + 1] === 'hooks' && n > gitAt + 2) {
    const name = parts[n - 1] ?? '';
    // git init's samples do not run; everything else in hooks/ does (or can be renamed to).
    if (!name.endsWith('.sample')) return { sensitive: true, reason: `git hook ${parts.slice(gitAt).join('/')}${gitAt > 0 ? ` in the nested repository ${parts.slice(0, gitAt).join('/')}` : ''}` };
  }
  if (gitAt >= 0 && n === gitAt + 2 && parts[gitAt + 1] === 'config') {
    const risky = riskyGitSettings(gitConfig() ?? '');
    if (risky.length > 0) return { sensitive: true, reason: `git config ${rel} sets ${risky.join(', ')}` };
    return { sensitive: false };
  }
  for (const pattern of [...BUILTIN_SENSITIVE, ...extra]) {
    const p = pattern.split('/').filter((x) => x !== '');
    if (p.length === 0 || p.length > n) continue;
    if (p.every((seg, i) => seg === parts[n - p.length + i])) return { sensitive: true, reason: `${pattern} (runs code when the folder is opened or a tool runs)` };
  }
  return { sensitive: false };
}
