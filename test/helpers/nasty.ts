/**
 * The bad-input matrix as JSON Lines text: control characters, unicode, a 20 KB
 * string, nulls, an integer above 2^53 and identical duplicate rows. Written by hand (not by
 * JSON.stringify of JS numbers) so the big integer keeps its digits.
 */
export const BIG = '12345678901234567890';

export const NASTY_QUESTIONS: Array<string | null> = [
  'plain question?',
  'emoji 🚀🔥 and ünïcödé — 漢字',
  'line\nbreak and\r\ncrlf and lone\rcr',
  'tab\there and \u0001 soh and nul \u0000 end',
  'quotes " \' ` and backslash \\ and {{ not_a_template }} {% raw %}',
  '$(touch /tmp/sparkinfer-pwned) ; rm -rf / ; `id` | cat',
  null,
  'x'.repeat(20 * 1024),
  'identical row',
  'identical row',
];

export function nastyJsonl(): string {
  return `${NASTY_QUESTIONS.map((q, i) => {
    const big = i === 0 ? BIG : q === 'identical row' ? '7' : String(i);
    // Rows 8 and 9 are identical in every column (no key): they must both come out once.
    const n = q === 'identical row' ? 7 : i;
    return `{"q":${JSON.stringify(q)},"big":${big},"n":${n}}`;
  }).join('\n')}\n`;
}
