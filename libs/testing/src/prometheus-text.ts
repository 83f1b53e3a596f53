/**
 * The sum of a metric's samples in Prometheus text whose labels contain every given `key="value"`
 * fragment (0 when none match).
 */
export function sumMetric(text: string, name: string, ...labels: string[]): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} ([\\d.e+-]+)$`, 'gm'))) {
    if (labels.every((l) => m[1]!.includes(l))) sum += Number(m[2]);
  }
  return sum;
}
