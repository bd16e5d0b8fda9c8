// Namespaces: identity, listing, pinning and creation (API.md "Namespace").
export { Namespace } from './namespace';
export type { NamespaceCreateOptions, NamespaceList, NamespaceListEntry, UnpinOptions } from './namespace';
export { formatNamespaceTable } from './format';
export type { NamespaceType } from './kinds';
