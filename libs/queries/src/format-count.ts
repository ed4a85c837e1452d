const THOUSANDS = /\B(?=(\d{3})+(?!\d))/g;

function groupDigits(n: number): string {
  return String(n).replace(THOUSANDS, ',');
}

/** `units` of `scale`, truncated (never rounded up) to one decimal; a ".0" is dropped. */
function scaled(n: number, scale: number, suffix: string): string {
  const tenths = Math.floor(n / (scale / 10));
  const whole = Math.floor(tenths / 10);
  const decimal = tenths % 10;
  return `${groupDigits(whole)}${decimal === 0 ? '' : `.${decimal}`}${suffix}`;
}

/**
 * A like count the way the app shows it: 0–999 as is, 1,000–9,999 with a separator ("1,234"),
 * then one truncated decimal with K, M or B ("12.3K", "1.2M", "3B"). Truncated so the label never
 * claims more likes than there are (999,999 is "999.9K", not "1M").
 */
export function formatCount(count: number): string {
  if (!Number.isSafeInteger(count)) throw new RangeError(`count ${count} is not a safe integer`);
  if (count < 0) return `-${formatCount(-count)}`;
  if (count < 10_000) return groupDigits(count);
  if (count < 1_000_000) return scaled(count, 1_000, 'K');
  if (count < 1_000_000_000) return scaled(count, 1_000_000, 'M');
  return scaled(count, 1_000_000_000, 'B');
}
