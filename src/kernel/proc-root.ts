// Where /proc is: /proc, or another root given by TCPLENS_PROC (tests, and a host's /proc mounted
// elsewhere, as in a container that watches its host). Every /proc reader starts here.

export function procRootDir(): string {
  return process.env.TCPLENS_PROC ?? '/proc';
}
