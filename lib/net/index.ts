// Links between network namespaces over rtnetlink.
export { NetworkLinks } from './links';
export type { AddressInfo, LinkChange, LinkInfo, VethOptions } from './links';
