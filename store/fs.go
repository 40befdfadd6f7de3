package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fastcapa-go/fastcapa/internal/atomicfile"
)

// Temporary names. A file is written as
//
//	<dir>/.<base>.<tag>.inprogress        (in process: any Format and Compression)
//	<dir>/.<base>.<tag>.pipe.inprogress   (through PipeCmd)
//
// in the directory of its final name (so the final link is atomic, on one
// filesystem), where <base> is the final base name with {end} left as the
// literal text "{end}" and <tag> is 16 random hex digits, so that two
// writers whose names coincide never share a temporary file. Recover
// rewrites a torn file into <dir>/.<base>.<tag>.recovering, then renames
// it over the temporary name.
const (
	tempSuffix    = ".inprogress"
	pipeMark      = ".pipe"
	recoverSuffix = ".recovering"
	tagBytes      = 8
)

func tempBase(base, tag string, piped bool) string {
	if piped {
		return "." + base + "." + tag + pipeMark + tempSuffix
	}
	return "." + base + "." + tag + tempSuffix
}

// tempOverhead is how much longer a temporary name is than its base.
func tempOverhead(piped bool) int {
	return len(tempBase("", strings.Repeat("0", 2*tagBytes), piped))
}

// parseTempName returns the final base name (possibly with "{end}") a
// temporary name stands for, and whether a PipeCmd wrote it.
func parseTempName(name string) (base string, piped, ok bool) {
	if !strings.HasPrefix(name, ".") || !strings.HasSuffix(name, tempSuffix) {
		return "", false, false
	}
	s := strings.TrimSuffix(name[1:], tempSuffix)
	s, piped = strings.CutSuffix(s, pipeMark)
	base, ok = cutTag(s)
	return base, piped, ok
}

// parseRecoverName tells whether name is an unfinished rewrite of
// Recover's.
func parseRecoverName(name string) bool {
	if !strings.HasPrefix(name, ".") || !strings.HasSuffix(name, recoverSuffix) {
		return false
	}
	_, ok := cutTag(strings.TrimSuffix(name[1:], recoverSuffix))
	return ok
}

// cutTag splits "<base>.<tag>" and checks both.
func cutTag(s string) (base string, ok bool) {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || len(s)-i-1 != 2*tagBytes {
		return "", false
	}
	for _, c := range []byte(s[i+1:]) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	base = s[:i]
	if strings.HasPrefix(base, ".") {
		return "", false
	}
	return base, true
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// maxSuffix bounds the numbered names tried after a collision.
const maxSuffix = 1000

// suffixed returns base with collision number n, before its extension:
// ext (the suffix the Writer appended, such as ".gz"; may be empty) and
// a ".pcap" or ".pcapng" before it ("a.pcap" → "a.1.pcap", "a.pcap.gz" →
// "a.1.pcap.gz", "pcap_t_1_0_u" → "pcap_t_1_0_u.1").
func suffixed(base string, n int, ext string) string {
	num := "." + strconv.Itoa(n)
	stem, ok := strings.CutSuffix(base, ext)
	if !ok || stem == "" {
		stem, ext = base, ""
	}
	for _, e := range []string{".pcapng", ".pcap"} {
		if s, ok := strings.CutSuffix(stem, e); ok && s != "" {
			return s + num + e + ext
		}
	}
	return stem + num + ext
}

// publish gives the file at tmp the final name base in dir without
// replacing anything (atomicfile.Link): that name, else the next numbered
// one (ext as for suffixed). A name that is already tmp's own link (a
// crash between link and unlink) counts as done. It returns the final
// path; the caller unlinks tmp (atomicfile.Unlink, which syncs dir).
func publish(tmp, dir, base, ext string) (string, error) {
	for n := 0; n <= maxSuffix; n++ {
		name := base
		if n > 0 {
			name = suffixed(base, n, ext)
		}
		p := filepath.Join(dir, name)
		err := atomicfile.Link(tmp, p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("%s and %s to %s: %w", filepath.Join(dir, base), suffixed(base, 1, ext), suffixed(base, maxSuffix, ext), ErrExists)
}
