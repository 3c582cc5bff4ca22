/**
 * The few libc calls Deno does not offer (mknod, mount, umount2, xattrs), through
 * FFI, with errno turned into an error message.
 *
 * @module
 */

const SYMBOLS = {
  mknod: { parameters: ["buffer", "u32", "u64"], result: "i32" },
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"], result: "i32" },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  lsetxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  llistxattr: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
} as const;

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

function libc(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  lib ??= Deno.dlopen("libc.so.6", SYMBOLS);
  return lib.symbols;
}

const cstr = (s: string) => new TextEncoder().encode(`${s}\0`);

/** The current errno as `[number, message]`. */
function errno(): [number, string] {
  const c = libc();
  const ptr = c.__errno_location();
  const code = ptr ? new Deno.UnsafePointerView(ptr).getInt32() : 0;
  const msg = c.strerror(code);
  return [code, msg ? Deno.UnsafePointerView.getCString(msg) : `errno ${code}`];
}

/** An error from a failed libc call. */
export class LibcError extends Error {
  /** errno value. */
  readonly errno: number;
  constructor(call: string, path: string) {
    const [code, message] = errno();
    super(`${call} "${path}": ${message}`);
    this.errno = code;
  }
}

/** mknod(2); `dev` is the kernel's encoding of major and minor. */
export function mknod(path: string, mode: number, major: number, minor: number): void {
  const dev = (BigInt(major & 0xfff) << 8n) | BigInt(minor & 0xff) |
    (BigInt(minor & ~0xff) << 12n) | (BigInt(major & ~0xfff) << 32n);
  if (libc().mknod(cstr(path), mode, dev) !== 0) throw new LibcError("mknod", path);
}

/** mount(2) with no flags. */
export function mount(source: string, target: string, type: string, data: string): void {
  if (libc().mount(cstr(source), cstr(target), cstr(type), 0n, cstr(data)) !== 0) {
    throw new LibcError("mount", target);
  }
}

const EINVAL = 22;
const ENOENT = 2;
const MNT_DETACH = 2;

/** umount2(2), lazily; nothing mounted there (EINVAL, ENOENT) is not an error. */
export function unmount(target: string): void {
  if (libc().umount2(cstr(target), MNT_DETACH) === 0) return;
  const err = new LibcError("umount", target);
  if (err.errno !== EINVAL && err.errno !== ENOENT) throw err;
}

const ENODATA = 61;
const ERANGE = 34;
const ENOTSUP = 95;

/** lsetxattr(2); a string value is written as UTF-8. */
export function setxattr(path: string, name: string, value: string | Uint8Array): void {
  const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
  if (libc().lsetxattr(cstr(path), cstr(name), bytes, BigInt(bytes.length), 0) !== 0) {
    throw new LibcError("setxattr", path);
  }
}

/**
 * Calls `call` with a buffer until the value fits (the size can grow between
 * the probe and the read: ERANGE); undefined for `absent` errnos.
 */
function sized(
  what: string,
  path: string,
  call: (buf: Uint8Array | null, size: number) => number,
  absent: number[],
): Uint8Array | undefined {
  for (let attempt = 0; attempt < 8; attempt++) {
    const size = call(null, 0);
    if (size >= 0) {
      const buf = new Uint8Array(size);
      const n = size === 0 ? 0 : call(buf, size);
      if (n >= 0) return buf.subarray(0, n);
    }
    const err = new LibcError(what, path);
    if (absent.includes(err.errno)) return undefined;
    if (err.errno !== ERANGE) throw err;
  }
  throw new Error(`${what} "${path}": the value keeps changing size`);
}

/** lgetxattr(2), the value's bytes; undefined when the attribute is not set. */
export function getxattrBytes(path: string, name: string): Uint8Array | undefined {
  const p = cstr(path);
  const n = cstr(name);
  return sized(
    "getxattr",
    path,
    (buf, size) => Number(libc().lgetxattr(p, n, buf, BigInt(size))),
    [ENODATA, ENOTSUP],
  );
}

/** lgetxattr(2) as UTF-8 text; undefined when the attribute is not set. */
export function getxattr(path: string, name: string): string | undefined {
  const value = getxattrBytes(path, name);
  return value === undefined ? undefined : new TextDecoder().decode(value);
}

/**
 * llistxattr(2) then lgetxattr(2): the extended attributes of `path` itself
 * (a symlink's own), with their values; none where the filesystem has none.
 */
export function listxattr(path: string): Record<string, Uint8Array> {
  const p = cstr(path);
  const list = sized(
    "listxattr",
    path,
    (buf, size) => Number(libc().llistxattr(p, buf, BigInt(size))),
    [ENOTSUP],
  );
  const out: Record<string, Uint8Array> = {};
  if (list === undefined) return out;
  const dec = new TextDecoder();
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    if (list[i] !== 0) continue;
    const name = dec.decode(list.subarray(start, i));
    start = i + 1;
    // Removed between the list and the read: not there any more.
    const value = getxattrBytes(path, name);
    if (name !== "" && value !== undefined) out[name] = value;
  }
  return out;
}
