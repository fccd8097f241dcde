export { addressPolicy, deniedRanges, loopbackRanges, parseAllowedCidrs, privateRanges, type AddressPolicy } from './address-policy';
export { defaultRetries, defaultTimeoutSeconds, probeAll, probeHealth, type ProbeOptions, type ProbeResult, type ProbeTarget } from './probe';
