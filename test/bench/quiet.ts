/**
 * The bench's log defaults, imported before anything else: the functions' logger reads LOG_LEVEL
 * when its module loads, and imports are evaluated before the importing module's own statements.
 * Only INFO's per-event lines are left out; a warning or an error still shows.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.LOG_LEVEL ??= 'warn';
