// What the single executable's build keeps of packages that ship prebuilt native binaries.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isForeignBuild } from '../../scripts/build-sea.ts';

test("keeps a native addon's binary for this platform and leaves out the other platforms' and architectures'", () => {
  assert.equal(isForeignBuild('node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node', 'linux', 'x64'), false);
  assert.equal(isForeignBuild('node_modules/koffi/build/koffi/linux-x64/koffi.node', 'linux', 'x64'), false);
  assert.equal(isForeignBuild('node_modules/@koromix/koffi-linux-x64/musl_x64/koffi.node', 'linux', 'x64'), true);
  assert.equal(isForeignBuild('node_modules/koffi/build/koffi/darwin_arm64/koffi.node', 'linux', 'x64'), true);
  assert.equal(isForeignBuild('node_modules/koffi/build/koffi/linux_arm64/koffi.node', 'linux', 'x64'), true);
  assert.equal(isForeignBuild('node_modules/koffi/build/koffi/win32_x64/koffi.node', 'linux', 'x64'), true);
  assert.equal(isForeignBuild('node_modules/undici/lib/dispatcher/client.js', 'linux', 'x64'), false);
});

test('built for arm64, keeps the arm64 binaries and leaves out the x64 ones', () => {
  assert.equal(isForeignBuild('linux_arm64/koffi.node', 'linux', 'arm64'), false);
  assert.equal(isForeignBuild('musl_arm64/koffi.node', 'linux', 'arm64'), true);
  assert.equal(isForeignBuild('node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node', 'linux', 'arm64'), true);
});
