// The AWS SDK warns on every client that releases after January 2027 need Node 22 (TOOLCHAIN.md).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
