/**
 * A minimal ZIP writer (PKZIP 2.0, deflate, UTF-8 names) for entries whose CRC-32 and sizes are known
 * before their bytes are sent, which is the case for stored export parts. No ZIP64: every entry and the
 * whole archive must stay below 4 GiB, which the export step enforces.
 */
export interface ZipEntry {
  name: string;
  crc32: number;
  size: number;
  compressedSize: number;
}

export const ZIP32_LIMIT = 0xffff_ffff;
const DEFLATE = 8;
const UTF8_NAMES = 0x0800;

function dosTime(at: Date): { time: number; date: number } {
  const time = (at.getUTCHours() << 11) | (at.getUTCMinutes() << 5) | Math.floor(at.getUTCSeconds() / 2);
  const date = ((at.getUTCFullYear() - 1980) << 9) | ((at.getUTCMonth() + 1) << 5) | at.getUTCDate();
  return { time, date };
}

export function localHeader(entry: ZipEntry, at: Date): Buffer {
  const name = Buffer.from(entry.name, 'utf8');
  const { time, date } = dosTime(at);
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(20, 4);
  header.writeUInt16LE(UTF8_NAMES, 6);
  header.writeUInt16LE(DEFLATE, 8);
  header.writeUInt16LE(time, 10);
  header.writeUInt16LE(date, 12);
  header.writeUInt32LE(entry.crc32 >>> 0, 14);
  header.writeUInt32LE(entry.compressedSize, 18);
  header.writeUInt32LE(entry.size, 22);
  header.writeUInt16LE(name.length, 26);
  header.writeUInt16LE(0, 28);
  return Buffer.concat([header, name]);
}

/** Central directory and end record for entries whose local headers start at `offsets`. */
export function centralDirectory(entries: readonly ZipEntry[], offsets: readonly number[], at: Date): Buffer {
  const { time, date } = dosTime(at);
  const records: Buffer[] = [];
  let directoryStart = 0;
  entries.forEach((entry, i) => {
    const name = Buffer.from(entry.name, 'utf8');
    const record = Buffer.alloc(46);
    record.writeUInt32LE(0x02014b50, 0);
    record.writeUInt16LE(20, 4);
    record.writeUInt16LE(20, 6);
    record.writeUInt16LE(UTF8_NAMES, 8);
    record.writeUInt16LE(DEFLATE, 10);
    record.writeUInt16LE(time, 12);
    record.writeUInt16LE(date, 14);
    record.writeUInt32LE(entry.crc32 >>> 0, 16);
    record.writeUInt32LE(entry.compressedSize, 20);
    record.writeUInt32LE(entry.size, 24);
    record.writeUInt16LE(name.length, 28);
    record.writeUInt32LE(offsets[i]!, 42);
    records.push(record, name);
    directoryStart = offsets[i]! + 30 + name.length + entry.compressedSize;
  });
  const directory = Buffer.concat(records);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(directoryStart, 16);
  return Buffer.concat([directory, end]);
}

/** Byte offset of each local header and the archive's total length. */
export function zipLayout(entries: readonly ZipEntry[]): { offsets: number[]; length: number } {
  const offsets: number[] = [];
  let at = 0;
  for (const entry of entries) {
    offsets.push(at);
    at += 30 + Buffer.byteLength(entry.name, 'utf8') + entry.compressedSize;
  }
  const directory = entries.reduce((sum, e) => sum + 46 + Buffer.byteLength(e.name, 'utf8'), 0);
  return { offsets, length: at + directory + 22 };
}
