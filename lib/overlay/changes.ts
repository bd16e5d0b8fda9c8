// changes(): what the merged view shows that the lower layers alone did not, as `docker diff`
// reports a container against its image when it compares the two trees (moby pkg/archive,
// ChangesDirs): a path that exists now and did not before is 'added', with everything below it;
// one that existed and is gone is 'deleted' (once, not its contents); one that exists in both
// and was copied up is 'modified' — every non-directory copied up (a metacopy too), and a
// directory when its mode, owner or mtime changed, when something inside it changed, or when
// its content was replaced (opaque) or comes from elsewhere (redirect).
// So `rm -rf /d && mkdir /d` reads: /d modified, each old child of /d deleted, each new one added.
// (docker's overlay2 shortcut, OverlayChanges, reports such an opaque /d as deleted and lists
// only the new children; comparing the trees says what a reader of the merged view sees.)
// Only the upper dir is walked, plus the lower directories an opaque or redirected directory
// replaced, so the cost follows the size of the changes, not of the image.
import * as path from 'node:path';
import { type LayerStack, type MergedDir, type MergedEntry, readNames, sameParts } from './layers';

/** 'added' only the upper layer has it, 'modified' the upper layer replaced it (content, type or attributes), 'deleted' a whiteout hides it. */
export type OverlayChangeKind = 'added' | 'modified' | 'deleted';

/** One entry of ov.changes(): a path the upper layer changed. */
export interface OverlayChange {
  /** absolute inside the merged view, e.g. '/etc/hosts' */
  path: string;
  /** what the upper layer did to it */
  kind: OverlayChangeKind;
}

export interface DiffInput {
  /** the view with the upper layer on top: [upper, ...lower] */
  merged: LayerStack;
  /** the view of the lower layers alone */
  below: LayerStack;
  /** paths (absolute in the view) not reported themselves when the upper dir alone has them */
  ignore: ReadonlySet<string>;
}

export async function diffOverlay(input: DiffInput): Promise<OverlayChange[]> {
  const out: OverlayChange[] = [];
  await diffDir(input, '/', await input.merged.root(), await input.below.root(), out);
  return out;
}

/** A directory's own attributes as docker compares them (its size is the filesystem's business). */
function dirAttrsDiffer(a: MergedEntry, b: MergedEntry): boolean {
  const x = a.top.stat;
  const y = b.top.stat;
  return x.mode !== y.mode || x.uid !== y.uid || x.gid !== y.gid || x.mtimeNs !== y.mtimeNs;
}

/** The merged view shows the lower view's own entry here: the upper layer adds nothing. */
function sameEntry(m: MergedEntry, l: MergedEntry): boolean {
  if (m.top.abs !== l.top.abs) return false;
  return m.dir === null || l.dir === null ? m.dir === l.dir : sameParts(m.dir, l.dir);
}

async function diffDir(input: DiffInput, dirPath: string, m: MergedDir, l: MergedDir | null, out: OverlayChange[]): Promise<void> {
  const { merged, below } = input;
  let names: string[];
  const upperOnTop = m.parts.length > 0 && m.parts[0].index === 0;
  if (l !== null && upperOnTop && sameParts({ parts: m.parts.slice(1) }, l)) {
    // the usual case: the upper directory merges with exactly the lower ones, so a name the
    // upper directory lacks shows the same entry in both views
    names = await readNames(m.parts[0].abs);
  } else {
    const union = new Set([...(await merged.names(m)), ...(l ? await below.names(l) : [])]);
    names = [...union].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }
  for (const name of names) {
    const childPath = path.posix.join(dirPath, name);
    const mc = await merged.child(m, name);
    const lc = l ? await below.child(l, name) : null;
    if (!mc) {
      if (lc) out.push({ path: childPath, kind: 'deleted' });
      continue;
    }
    if (!lc) {
      const createdByLibrary = input.ignore.has(childPath) && mc.top.index === 0;
      if (!createdByLibrary) out.push({ path: childPath, kind: 'added' });
      if (mc.dir) await diffDir(input, childPath, mc.dir, null, out);
      continue;
    }
    if (sameEntry(mc, lc)) continue;
    if (mc.dir && lc.dir) {
      const mark = out.length;
      await diffDir(input, childPath, mc.dir, lc.dir, out);
      const replaced = !sameParts({ parts: mc.dir.parts.filter((p) => p.index !== 0) }, lc.dir);
      if (out.length > mark || replaced || dirAttrsDiffer(mc, lc)) out.splice(mark, 0, { path: childPath, kind: 'modified' });
      continue;
    }
    out.push({ path: childPath, kind: 'modified' });
    if (mc.dir) await diffDir(input, childPath, mc.dir, null, out); // a directory where a file was
  }
}
