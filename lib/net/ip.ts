/**
 * IP addresses and networks as Go's `net` parses them (`net.ParseIP`,
 * `net.ParseCIDR` over `netip.ParseAddr`): CoreDNS's reverse zones and
 * pprof's `allow` lists accept exactly what Go accepts.
 */

function parseIPv4Fields(s: string): number[] | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    // Go rejects empty fields, leading zeros and values over 255.
    if (!/^[0-9]{1,3}$/.test(p) || (p.length > 1 && p[0] === "0")) {
      return undefined;
    }
    const v = Number(p);
    if (v > 255) return undefined;
    out.push(v);
  }
  return out;
}

function parseIPv6(s: string): number[] | undefined {
  if (s.includes("%")) return undefined; // ParseCIDR rejects zones
  const ip = new Array<number>(16).fill(0);
  let ellipsis = -1;
  if (s.startsWith("::")) {
    ellipsis = 0;
    s = s.slice(2);
    if (s.length === 0) return ip;
  }
  let i = 0;
  while (i < 16) {
    let off = 0;
    let acc = 0;
    for (; off < s.length; off++) {
      const c = s[off]!;
      if (!/[0-9a-fA-F]/.test(c)) break;
      if (off > 3) return undefined; // more than 4 digits in a group
      acc = acc * 16 + parseInt(c, 16);
    }
    if (off === 0) return undefined;
    if (off < s.length && s[off] === ".") {
      // Trailing IPv4, only as the last 32 bits.
      if (ellipsis < 0 && i !== 12) return undefined;
      if (i + 4 > 16) return undefined;
      const v4 = parseIPv4Fields(s);
      if (v4 === undefined) return undefined;
      ip.splice(i, 4, ...v4);
      s = "";
      i += 4;
      break;
    }
    ip[i] = acc >> 8;
    ip[i + 1] = acc & 0xff;
    i += 2;
    s = s.slice(off);
    if (s.length === 0) break;
    if (s[0] !== ":" || s.length === 1) return undefined;
    s = s.slice(1);
    if (s[0] === ":") {
      if (ellipsis >= 0) return undefined; // multiple ::
      ellipsis = i;
      s = s.slice(1);
      if (s.length === 0) break;
    }
  }
  if (s.length !== 0) return undefined;
  if (i < 16) {
    if (ellipsis < 0) return undefined;
    const n = 16 - i;
    for (let j = i - 1; j >= ellipsis; j--) ip[j + n] = ip[j]!;
    for (let j = ellipsis; j < ellipsis + n; j++) ip[j] = 0;
  } else if (ellipsis >= 0) {
    return undefined; // :: must stand for at least one group
  }
  return ip;
}

/** Go's net.ParseIP (without zones): 4 bytes for IPv4, 16 for IPv6. */
export function parseIP(s: string): number[] | undefined {
  const m = /[.:%]/.exec(s);
  if (m === null || m[0] === "%") return undefined;
  return m[0] === "." ? parseIPv4Fields(s) : parseIPv6(s);
}

/** A parsed network: its address bytes (4 or 16), masked, and prefix length. */
export interface IPNet {
  ip: number[];
  ones: number;
}

/** Go's net.ParseCIDR, returning the (masked) network. */
export function parseCIDR(s: string): IPNet | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return undefined;
  const addr = s.slice(0, slash);
  const mask = s.slice(slash + 1);
  // netip.ParseAddr: the first of '.', ':' or '%' decides the family.
  const m = /[.:%]/.exec(addr);
  if (m === null || m[0] === "%") return undefined;
  const ip = m[0] === "." ? parseIPv4Fields(addr) : parseIPv6(addr);
  if (ip === undefined) return undefined;
  // dtoi: leading zeros are fine, anything but digits is not.
  if (!/^[0-9]+$/.test(mask)) return undefined;
  const ones = Number(mask);
  if (ones > ip.length * 8) return undefined;
  return { ip: applyMask(ip, ones), ones };
}

export function applyMask(ip: number[], ones: number): number[] {
  return ip.map((b, k) => {
    const bits = Math.max(0, Math.min(8, ones - k * 8));
    return b & ((0xff << (8 - bits)) & 0xff);
  });
}

/** Whether `ip` (of the same family) lies in `net`. */
export function netContains(net: IPNet, ip: readonly number[]): boolean {
  if (net.ip.length !== ip.length) return false;
  for (let bit = 0; bit < net.ones; bit++) {
    const mask = 0x80 >> (bit % 8);
    const byte = bit >> 3;
    if ((net.ip[byte]! & mask) !== (ip[byte]! & mask)) return false;
  }
  return true;
}
