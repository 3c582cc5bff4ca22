/**
 * The few libc calls Deno does not offer (mknod, mount, umount2), through
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

/** lsetxattr(2). */
export function setxattr(path: string, name: string, value: string): void {
  const bytes = new TextEncoder().encode(value);
  if (libc().lsetxattr(cstr(path), cstr(name), bytes, BigInt(bytes.length), 0) !== 0) {
    throw new LibcError("setxattr", path);
  }
}

/** lgetxattr(2); undefined when the attribute is not set. */
export function getxattr(path: string, name: string): string | undefined {
  const buf = new Uint8Array(256);
  const n = Number(libc().lgetxattr(cstr(path), cstr(name), buf, BigInt(buf.length)));
  if (n >= 0) return new TextDecoder().decode(buf.subarray(0, n));
  const err = new LibcError("getxattr", path);
  if (err.errno === ENODATA || err.errno === 95 /* ENOTSUP */) return undefined;
  throw err;
}
