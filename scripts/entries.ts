/** Build entries: output path (without extension, relative to dist/) → source file. */
export const entries: Record<string, string> = {
  index: 'src/index.ts',
  'providers/challtestsrv/index': 'providers/challtestsrv/index.ts',
};
