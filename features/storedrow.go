package features

import (
	"encoding/binary"
	"slices"
)

// The stored row: a redis view's row as Redis holds it (and a memory
// view's, in process). One string value per (view, entity), so that a
// read is one MGET of the rows it needs and a row costs Redis one
// allocation, not one per feature:
//
//	byte       2            format version
//	int64 LE   event time   Unix ns; 0: unknown
//	then per feature present, in any order (view order is read fastest):
//	uint32 LE  tag          FNV-1a 32 of the feature's name (UTF-8)
//	uvarint    n            little-endian base 128 (protobuf's varint)
//	n bytes    the value    JSON of the feature's type
//
// Values are the JSON the replies carry, so a read checks and copies them
// and never re-renders one (rendering a float costs more than reading it).
// Entries are tagged rather than positional so that adding, removing or
// reordering a view's features leaves the rows already written readable:
// an unknown tag is skipped, a missing one is absent. Within a row a tag
// appears once (a later duplicate wins).
//
// Version 1 is the same row with the event time in Unix ms: rows written
// before event times kept nanoseconds, and by external writers of that
// format, which are read (and merged into) as well. A merge writes the
// header of the new row, so a row becomes version 2 at its next write.

const (
	storedVersion   = 2
	storedVersionMs = 1
	storedHeader    = 9 // version + event time
)

// isStored says whether b starts with a stored row header.
func isStored(b []byte) bool {
	return len(b) >= storedHeader && (b[0] == storedVersion || b[0] == storedVersionMs)
}

// featureTag names a feature in stored rows: FNV-1a 32 of its name.
func featureTag(name string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return h
}

// storedBuilder appends a stored row.
type storedBuilder struct{ b []byte }

// begin starts a row whose event time is ts, Unix ns (0: unknown).
func (sb *storedBuilder) begin(dst []byte, ts int64) {
	sb.b = append(dst, storedVersion)
	sb.b = binary.LittleEndian.AppendUint64(sb.b, uint64(ts))
}

func (sb *storedBuilder) value(tag uint32, val []byte) {
	sb.b = binary.LittleEndian.AppendUint32(sb.b, tag)
	sb.b = binary.AppendUvarint(sb.b, uint64(len(val)))
	sb.b = append(sb.b, val...)
}

// decodeStored reads a stored row of view v: vals[i] is feature i's value
// (nil: absent), slicing b, and its event time in Unix ns (negative: not
// an event time, before the epoch or past 2262). vals must have
// len(v.features) nil entries. False: b is not a stored row of a known
// version.
func decodeStored(b []byte, v *view, vals [][]byte) (ts int64, ok bool) {
	if !isStored(b) {
		return 0, false
	}
	ts = int64(binary.LittleEndian.Uint64(b[1:]))
	if b[0] == storedVersionMs {
		ts = millisToNanos(ts)
	}
	b = b[storedHeader:]
	next := 0 // the feature expected next: rows written in view order hit it
	for len(b) > 0 {
		if len(b) < 5 {
			return 0, false
		}
		tag := binary.LittleEndian.Uint32(b)
		n, k := binary.Uvarint(b[4:])
		if k <= 0 || n > uint64(len(b)-4-k) {
			return 0, false
		}
		val := b[4+k : 4+k+int(n) : 4+k+int(n)]
		b = b[4+k+int(n):]
		fi := -1
		if next < len(v.tags) && v.tags[next] == tag {
			fi = next
		} else if i, known := v.byTag[tag]; known {
			fi = i
		}
		if fi >= 0 {
			vals[fi] = val
			next = fi + 1
		}
	}
	return ts, true
}

// storedEntry is one tagged value of a stored row, as a slice of the row.
type storedEntry struct {
	tag uint32
	raw []byte // the whole entry: tag, length and value
}

// splitStored returns a stored row's entries in order, a duplicate tag
// replacing its first occurrence in place. False: not a stored row.
func splitStored(b []byte) ([]storedEntry, bool) {
	if !isStored(b) {
		return nil, false
	}
	var es []storedEntry
	for i := storedHeader; i < len(b); {
		if len(b)-i < 5 {
			return nil, false
		}
		tag := binary.LittleEndian.Uint32(b[i:])
		n, k := binary.Uvarint(b[i+4:])
		if k <= 0 || n > uint64(len(b)-i-4-k) {
			return nil, false
		}
		end := i + 4 + k + int(n)
		e := storedEntry{tag: tag, raw: b[i:end]}
		if j := slices.IndexFunc(es, func(x storedEntry) bool { return x.tag == tag }); j >= 0 {
			es[j] = e
		} else {
			es = append(es, e)
		}
		i = end
	}
	return es, true
}

// mergeStored is a partial write: newRow's header and values over old's,
// old's order first, then newRow's other entries. An old value that is no
// stored row is replaced. mergeLua does the same inside Redis; the two
// must agree byte for byte (TestMergeLuaMatchesGo).
func mergeStored(old, newRow []byte) []byte {
	ne, ok := splitStored(newRow)
	if !ok {
		panic("BUG: merging a malformed stored row")
	}
	oe, ok := splitStored(old)
	if !ok {
		return slices.Clone(newRow)
	}
	out := make([]byte, 0, len(old)+len(newRow))
	out = append(out, newRow[:storedHeader]...)
	for _, o := range oe {
		if j := slices.IndexFunc(ne, func(x storedEntry) bool { return x.tag == o.tag }); j >= 0 {
			out = append(out, ne[j].raw...)
		} else {
			out = append(out, o.raw...)
		}
	}
	for _, n := range ne {
		if !slices.ContainsFunc(oe, func(x storedEntry) bool { return x.tag == n.tag }) {
			out = append(out, n.raw...)
		}
	}
	return out
}

// mergeLua is mergeStored in Redis: KEYS[1] the row, ARGV[1] the partial
// row to write. A key holding anything but a stored row of version 1 or 2
// (a hash of the old layout, garbage) is replaced. Atomic, so concurrent partial writes
// of one row from several replicas lose no feature.
const mergeLua = `
local function split(s)
  local v = string.byte(s, 1)
  if #s < 9 or (v ~= 1 and v ~= 2) then return nil end
  local map, order, i, n = {}, {}, 10, #s
  while i <= n do
    if n - i + 1 < 5 then return nil end
    local tag = string.sub(s, i, i + 3)
    local len, mul, j = 0, 1, i + 4
    while true do
      local b = string.byte(s, j)
      if b == nil or j - i - 4 >= 10 then return nil end
      len = len + (b % 128) * mul
      j = j + 1
      if b < 128 then break end
      mul = mul * 128
    end
    local e = j + len - 1
    if e > n then return nil end
    if map[tag] == nil then order[#order + 1] = tag end
    map[tag] = string.sub(s, i, e)
    i = e + 1
  end
  return map, order
end
local new = ARGV[1]
local nm, no = split(new)
if nm == nil then return redis.error_reply('ERR tiercel: malformed stored row') end
local old = redis.pcall('GET', KEYS[1])
local om, oo
if type(old) == 'string' then om, oo = split(old) end
if om == nil then
  redis.call('SET', KEYS[1], new)
  return 1
end
local out = {string.sub(new, 1, 9)}
for _, tag in ipairs(oo) do out[#out + 1] = nm[tag] or om[tag] end
for _, tag in ipairs(no) do
  if om[tag] == nil then out[#out + 1] = nm[tag] end
end
redis.call('SET', KEYS[1], table.concat(out))
return 1`
