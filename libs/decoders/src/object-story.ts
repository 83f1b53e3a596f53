import { type SampleObject, type WindowSample } from '@vigil/windows';

const hms = (ms: number) => new Date(ms).toISOString().slice(11, 19);

const PLURAL: Record<string, string> = { person: 'people', bus: 'buses', knife: 'knives', mouse: 'mice' };
const count = (n: number, label: string) =>
  n === 1 ? `${/^[aeiou]/.test(label) ? 'an' : 'a'} ${label}` : `${n} ${PLURAL[label] ?? `${label}s`}`;

/** Where in the picture a point is, in words ("top left", "centre"). */
export function placeOf(x: number, y: number): string {
  const col = x < 1 / 3 ? 'left' : x < 2 / 3 ? '' : 'right';
  const row = y < 1 / 3 ? 'top' : y < 2 / 3 ? '' : 'bottom';
  return [row, col].filter(Boolean).join(' ') || 'centre';
}

/** One track's part in a window: first and last sighting, where, and how many samples it was in. */
interface Sighting {
  readonly id: string;
  label: string;
  readonly firstAt: number;
  lastAt: number;
  readonly first: SampleObject['box'];
  last: SampleObject['box'];
  samples: number;
}

const centre = (b: SampleObject['box']) => ({ x: b.x + b.w / 2, y: b.y + b.h / 2 });

/** What one track did in the window: crossed (with its direction), stayed, or passed briefly. */
function motion(s: Sighting): { verb: string; where: string; direction?: string } {
  const a = centre(s.first);
  const b = centre(s.last);
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const size = Math.max(s.last.w, s.last.h, 0.02);
  if (Math.hypot(dx, dy) >= size) {
    const direction =
      Math.abs(dx) >= Math.abs(dy)
        ? dx > 0
          ? 'left to right'
          : 'right to left'
        : dy > 0
          ? 'from the top of the picture down'
          : 'from the bottom of the picture up';
    return { verb: 'moved', where: placeOf(b.x, b.y), direction };
  }
  return { verb: 'stayed', where: placeOf(b.x, b.y) };
}

/**
 * The tracked objects of a window in plain words, from the samples' tracks alone: who moved which way,
 * what stayed where (and when it arrived, if that was inside the window), and the most seen at once, e.g.
 * "3 people moved left to right; a person moved right to left; a truck stayed at the top right (from
 * 14:02:10). At most 4 people at once." Empty when no sample has objects. Deterministic and pure.
 */
export function objectStory(samples: readonly WindowSample[], start: number): string {
  const tracks = new Map<string, Sighting>();
  const most = new Map<string, number>();
  let detected = false;
  for (const s of samples) {
    if (!s.objects) continue;
    detected = true;
    const now = new Map<string, number>();
    for (const o of s.objects) {
      now.set(o.label, (now.get(o.label) ?? 0) + 1);
      const t = tracks.get(o.id);
      if (!t)
        tracks.set(o.id, {
          id: o.id,
          label: o.label,
          firstAt: s.at,
          lastAt: s.at,
          first: o.box,
          last: o.box,
          samples: 1,
        });
      else {
        t.lastAt = s.at;
        t.last = o.box;
        t.label = o.label;
        t.samples++;
      }
    }
    for (const [l, n] of now) most.set(l, Math.max(most.get(l) ?? 0, n));
  }
  if (!detected) return '';
  if (tracks.size === 0) return 'No people or objects detected.';
  // group what did the same: "3 people moved left to right"
  const groups = new Map<string, { label: string; n: number; phrase: string; at: number }>();
  for (const t of tracks.values()) {
    const m = motion(t);
    const arrived = m.verb === 'stayed' && t.firstAt > start + 1000 ? ` (from ${hms(t.firstAt)})` : '';
    const phrase = m.direction ? `moved ${m.direction}` : `stayed at the ${m.where}${arrived}`;
    const key = `${t.label}\u0000${phrase}`;
    const g = groups.get(key);
    if (g) g.n++;
    else groups.set(key, { label: t.label, n: 1, phrase, at: t.firstAt });
  }
  const parts = [...groups.values()]
    .sort((a, b) => b.n - a.n || a.at - b.at)
    .slice(0, 8)
    .map((g) => `${count(g.n, g.label)} ${g.phrase}`);
  const peak = [...most].sort((a, b) => b[1] - a[1])[0]!;
  const sentence = parts.join('; ');
  return `${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}.${peak[1] > 1 ? ` At most ${count(peak[1], peak[0])} at once.` : ''}`;
}

/** Each frame's tracked objects as the prompt lists them: "#3 person [0.41, 0.52, 0.05, 0.20]". */
export function objectList(objects: readonly SampleObject[], max = 20): string {
  const r = (v: number) => v.toFixed(2);
  const list = objects
    .slice(0, max)
    .map((o) => `#${o.id} ${o.label} [${r(o.box.x)}, ${r(o.box.y)}, ${r(o.box.w)}, ${r(o.box.h)}]`);
  return `${list.join('; ') || 'none'}${objects.length > max ? `; and ${objects.length - max} more` : ''}`;
}
