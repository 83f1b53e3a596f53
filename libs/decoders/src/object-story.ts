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
  // a track seen in one sample only is detector flicker (a ball called a frisbee once): not narrated
  const seen = [...tracks.values()].filter((t) => t.samples >= 2 || samples.length < 4);
  if (seen.length === 0) return '';
  // one parked vehicle that the detector called a truck, then a bus (and the tracker split): one vehicle
  const kept = mergeParked(seen);
  // group what did the same: "3 people moved left to right", "2 cars stayed at the top right"
  const groups = new Map<
    string,
    { label: string; n: number; phrase: string; at: number; arrived: number[] }
  >();
  for (const t of kept) {
    const m = motion(t);
    const phrase = m.direction ? `moved ${m.direction}` : `stayed at the ${m.where}`;
    const key = `${t.label}\u0000${phrase}`;
    const g = groups.get(key) ?? { label: t.label, n: 0, phrase, at: t.firstAt, arrived: [] };
    g.n++;
    g.at = Math.min(g.at, t.firstAt);
    if (m.verb === 'stayed' && t.firstAt > start + 1000) g.arrived.push(t.firstAt);
    groups.set(key, g);
  }
  const parts = [...groups.values()]
    .sort((a, b) => b.n - a.n || a.at - b.at)
    .slice(0, 6)
    .map((g) => {
      // when it arrived, once per group: "(from 14:02:04)", or for several "(the first from 14:02:04)"
      const first = g.arrived.length ? Math.min(...g.arrived) : null;
      const when =
        first === null ? '' : g.n === 1 ? ` (from ${hms(first)})` : ` (the first from ${hms(first)})`;
      return `${count(g.n, g.label)} ${g.phrase}${when}`;
    });
  const peak = [...most].sort((a, b) => b[1] - a[1])[0]!;
  const sentence = parts.join('; ');
  return `${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}.${peak[1] > 1 ? ` At most ${count(peak[1], peak[0])} at once.` : ''}`;
}

/** Classes that are one kind of thing to a person reading a summary. */
const FAMILY: Record<string, string> = {
  car: 'vehicle',
  truck: 'vehicle',
  bus: 'vehicle',
  motorcycle: 'vehicle',
  train: 'vehicle',
  bicycle: 'bicycle',
};
const familyOf = (label: string) => FAMILY[label] ?? label;

const iou = (a: SampleObject['box'], b: SampleObject['box']) => {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  const inter = Math.max(0, w) * Math.max(0, h);
  return inter / (a.w * a.h + b.w * b.h - inter || 1);
};

/**
 * Vehicle tracks that stayed in about the same place are one vehicle (the detector's class
 * for a parked van flickers between truck and bus, and a new class can start a new track): merged into
 * the track seen longest, under the label it was seen with most.
 */
function mergeParked(tracks: Sighting[]): Sighting[] {
  const out: Sighting[] = [];
  for (const t of [...tracks].sort((a, b) => b.samples - a.samples)) {
    const stays = familyOf(t.label) === 'vehicle' && !motion(t).direction;
    const same = stays
      ? out.find(
          (o) => familyOf(o.label) === familyOf(t.label) && !motion(o).direction && iou(o.last, t.last) > 0.4,
        )
      : undefined;
    if (!same) out.push(t);
  }
  return out;
}

/** Each frame's tracked objects as the prompt lists them: "#3 person [0.41, 0.52, 0.05, 0.20]". */
export function objectList(objects: readonly SampleObject[], max = 20): string {
  const r = (v: number) => v.toFixed(2);
  const list = objects
    .slice(0, max)
    .map((o) => `#${o.id} ${o.label} [${r(o.box.x)}, ${r(o.box.y)}, ${r(o.box.w)}, ${r(o.box.h)}]`);
  return `${list.join('; ') || 'none'}${objects.length > max ? `; and ${objects.length - max} more` : ''}`;
}
