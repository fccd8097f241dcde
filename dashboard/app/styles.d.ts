/** Style sheets are bundled by esbuild (dashboard/build.ts) into one hashed file beside the script. */
declare module '*.css';
