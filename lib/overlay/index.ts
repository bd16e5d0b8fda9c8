// OverlayMount (API.md "OverlayMount"): layered directories mounted as one, on the host or as a
// sandbox's root filesystem; changes() and commit() read its upper dir.
export { OverlayMount } from './overlay-mount';
export type { OverlayChangesOptions, OverlayCommitOptions, OverlayUnmountOptions } from './overlay-mount';
export type { OverlayChange, OverlayChangeKind } from './changes';
export type { MountDataOptions, OverlayMountOptions, RedirectDirMode } from './options';

/**
 * The mount points spawn({ rootfs }) makes in a sandbox's root besides the targets of `mounts`:
 * hand them (with those targets) to OverlayMount._prepareMountpoints or
 * _recordLibraryMountpoints so that changes() does not report them.
 */
export const SANDBOX_MOUNTPOINTS: readonly string[] = ['/proc', '/dev', '/tmp', '/sys'];
