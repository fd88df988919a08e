import { applyDecisions } from '../dlp/apply.js';
import { createScanner, type Scanner } from '../dlp/scanner.js';

/**
 * Audit records hold what a person typed (a command line, say), and people
 * put secrets on command lines. Before such text is recorded, every DLP
 * finding in it is replaced by its label (`[REDACTED:aws_access_key_id]`),
 * whatever the model-route policy would do with it; text the scanner cannot
 * finish in its budget is withheld entirely.
 */
export class AuditRedactor {
  private scanner: Scanner | null = null;

  redact(text: string): string {
    this.scanner ??= createScanner({});
    const res = this.scanner.scan(text);
    if (res.status !== 'complete') return '[withheld: too large to check for secrets]';
    return applyDecisions(text, res.findings.map((finding) => ({ finding, action: 'redact' as const })), null).text;
  }
}
