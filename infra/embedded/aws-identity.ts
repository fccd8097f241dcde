/**
 * The account and region the embedded host pretends to be. They only appear in ARNs and in the
 * SDK's configuration (signatures are not checked locally); local-aws-sqs uses the same defaults
 * in its queue URLs and ARNs.
 */
export const region = 'us-east-1';
export const accountId = '123456789012';
