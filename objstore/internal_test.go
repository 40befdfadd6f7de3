package objstore

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

func TestPlan(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		size, partSize int64
		multipart      bool
		parts          int
		first, last    int64
	}{
		{0, 5 * mib, false, 1, 0, 0},
		{5 * mib, 5 * mib, false, 1, 5 * mib, 5 * mib},
		{5*mib + 1, 5 * mib, true, 2, 5 * mib, 1},
		{64 * mib, 16 * mib, true, 4, 16 * mib, 16 * mib},
		// 10000 parts of 5 MiB hold 50000 MiB; one byte more needs
		// larger parts, in whole MiB.
		{10000 * 5 * mib, 5 * mib, true, 10000, 5 * mib, 5 * mib},
		{10000*5*mib + 1, 5 * mib, true, 8334, 6 * mib, 10000*5*mib + 1 - 8333*6*mib},
		{MaxObjectSize, 64 * mib, true, 9987, 525 * mib, MaxObjectSize - 9986*525*mib},
	} {
		parts, multi := plan(c.size, c.partSize)
		if multi != c.multipart || len(parts) != c.parts || parts[0].n != c.first || parts[len(parts)-1].n != c.last {
			t.Errorf("plan(%d, %d) = %v, %d parts, first %d, last %d; want %v, %d, %d, %d",
				c.size, c.partSize, multi, len(parts), parts[0].n, parts[len(parts)-1].n, c.multipart, c.parts, c.first, c.last)
		}
		var off int64
		for _, p := range parts {
			if p.off != off || p.n > MaxPartSize || (multi && p.n < MinPartSize && p.off+p.n != c.size) {
				t.Fatalf("plan(%d, %d): part at %d of %d bytes", c.size, c.partSize, p.off, p.n)
			}
			off += p.n
		}
		if off != c.size || len(parts) > MaxParts {
			t.Errorf("plan(%d, %d): %d parts cover %d bytes", c.size, c.partSize, len(parts), off)
		}
	}
}

func TestSuffixed(t *testing.T) {
	for _, c := range []struct {
		key  string
		n    int
		want string
	}{
		{"a.pcap", 0, "a.pcap"},
		{"a.pcap", 1, "a.1.pcap"},
		{"20261122/all-101500.pcap.zst", 2, "20261122/all-101500.2.pcap.zst"},
		{"x.y/pcap_t_1_0_u", 3, "x.y/pcap_t_1_0_u.3"},
		{"d.pcap/1700000000-1700000060", 1, "d.pcap/1700000000-1700000060.1"},
		{"a.pcapng", 1, "a.1.pcapng"},
	} {
		if got := suffixed(c.key, c.n); got != c.want {
			t.Errorf("suffixed(%q, %d) = %q, want %q", c.key, c.n, got, c.want)
		}
	}
}

func TestTransient(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for _, c := range []struct {
		err  error
		ctx  context.Context
		want bool
	}{
		{minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}, ctx, true},
		{minio.ErrorResponse{Code: "XMinioServerNotInitialized", StatusCode: 503}, ctx, true},
		{minio.ErrorResponse{Code: "502 Bad Gateway", StatusCode: 502}, ctx, true},
		{minio.ErrorResponse{Code: "RequestTimeout", StatusCode: 400}, ctx, true},
		{minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}, ctx, false},
		{minio.ErrorResponse{Code: "NoSuchBucket", StatusCode: 404}, ctx, false},
		{minio.ErrorResponse{Code: "BadDigest", StatusCode: 400}, ctx, false},
		{minio.ErrorResponse{Code: "PreconditionFailed", StatusCode: 412}, ctx, false},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, ctx, true},
		{io.ErrUnexpectedEOF, ctx, true},
		{context.DeadlineExceeded, ctx, true}, // the attempt's own deadline
		{&os.PathError{Op: "read", Path: "f", Err: syscall.EIO}, ctx, false},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, canceled, false},
	} {
		if got := transient(c.ctx, c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestSpecValidate: each bad field is an ErrSpec that names it.
func TestSpecValidate(t *testing.T) {
	good := Spec{Endpoint: "127.0.0.1:9000", Region: "us-east-1", Bucket: "pcap",
		Credentials: Credentials{AccessKey: "ak", SecretKey: "sk"}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		field string
		edit  func(*Spec)
	}{
		{"Endpoint", func(s *Spec) { s.Endpoint = "" }},
		{"Endpoint", func(s *Spec) { s.Endpoint = "http://127.0.0.1:9000" }},
		{"Endpoint", func(s *Spec) { s.Endpoint = "127.0.0.1:9000/pcap" }},
		{"Endpoint", func(s *Spec) { s.Endpoint = "127.0.0.1:99999" }},
		{"Endpoint", func(s *Spec) { s.Endpoint = "::1" }},
		{"Region", func(s *Spec) { s.Region = "" }},
		{"Region", func(s *Spec) { s.Region = "eu west" }},
		{"Bucket", func(s *Spec) { s.Bucket = "" }},
		{"Bucket", func(s *Spec) { s.Bucket = "Pcap" }},
		{"Bucket", func(s *Spec) { s.Bucket = "ab" }},
		{"Bucket", func(s *Spec) { s.Bucket = "-pcap" }},
		{"Bucket", func(s *Spec) { s.Bucket = "10.0.0.1" }},
		{"Prefix", func(s *Spec) { s.Prefix = "/sensor1" }},
		{"Prefix", func(s *Spec) { s.Prefix = "a//b" }},
		{"Prefix", func(s *Spec) { s.Prefix = "../x" }},
		{"Credentials", func(s *Spec) { s.Credentials = Credentials{} }},
		{"Credentials", func(s *Spec) { s.Credentials.SecretKey = "" }},
		{"Credentials", func(s *Spec) { s.Credentials.AccessKey = "" }},
		{"Credentials", func(s *Spec) { s.Credentials.FromEnv = true }},
		{"PartSize", func(s *Spec) { s.PartSize = MinPartSize - 1 }},
		{"PartSize", func(s *Spec) { s.PartSize = MaxPartSize + 1 }},
		{"DialTimeout", func(s *Spec) { s.DialTimeout = -1 }},
		{"RequestTimeout", func(s *Spec) { s.RequestTimeout = -1 }},
		{"Attempts", func(s *Spec) { s.Attempts = -1 }},
		{"Attempts", func(s *Spec) { s.Attempts = 101 }},
		{"RetryWait", func(s *Spec) { s.RetryWait = -1 }},
		{"MaxRetryWait", func(s *Spec) { s.MaxRetryWait = -1 }},
		{"MaxRetryWait", func(s *Spec) { s.RetryWait, s.MaxRetryWait = time.Minute, time.Second }},
	} {
		s := good
		c.edit(&s)
		err := s.Validate()
		if !errors.Is(err, ErrSpec) || !strings.HasPrefix(err.Error(), c.field) {
			t.Errorf("%+v: want ErrSpec naming %s, got %v", s, c.field, err)
		}
	}
	for _, ok := range []func(*Spec){
		func(s *Spec) { s.Endpoint = "s3.eu-west-1.amazonaws.com"; s.TLS = true },
		func(s *Spec) { s.Endpoint = "[::1]:9000" },
		func(s *Spec) { s.Prefix = "sensor1/" },
		func(s *Spec) { s.Prefix = "captures/sensor-1" },
		func(s *Spec) { s.Credentials = Credentials{FromEnv: true} },
		func(s *Spec) { s.PartSize = MinPartSize },
	} {
		s := good
		ok(&s)
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
}

// TestCredentialsHidden: printing a Spec shows no secret.
func TestCredentialsHidden(t *testing.T) {
	s := Spec{Credentials: Credentials{AccessKey: "AKIAEXAMPLE", SecretKey: "s3cr3t-key", SessionToken: "t0ken"}}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, s)
		if strings.Contains(out, "s3cr3t") || strings.Contains(out, "t0ken") || !strings.Contains(out, "AKIAEXAMPLE") {
			t.Errorf("%s: %s", format, out)
		}
	}
}

// TestServerChecksContentMD5: the server refuses a body whose MD5 is not
// the one sent with it (what makes a half-changed or corrupted file
// fail rather than be stored), and Upload reports it as ErrVerify.
func TestServerChecksContentMD5(t *testing.T) {
	m := testenv.StartMinIO(t)
	u, err := New(Spec{Endpoint: m.Endpoint, Region: m.Region, Bucket: m.Bucket,
		Credentials: Credentials{AccessKey: m.AccessKey, SecretKey: m.SecretKey}})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("the file's bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bad := part{n: 16, md5: md5.Sum([]byte("other bytes"))}
	_, _, err = u.putSingle(context.Background(), f, "md5/f", bad)
	t.Log(err)
	if !errors.Is(err, ErrVerify) || s3Code(err) != "BadDigest" {
		t.Errorf("want BadDigest as ErrVerify, got %v", err)
	}
	if status, _ := m.Object(t, m.Bucket, "md5/f"); status != 404 {
		t.Errorf("the refused object is visible: HTTP %d", status)
	}
}

// BenchmarkDigest is Upload's MD5 pass alone, over a 64 MiB file in the
// page cache, in 16 MiB parts.
func BenchmarkDigest(b *testing.B) {
	const size = 64 << 20
	p := filepath.Join(b.TempDir(), "f")
	if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	parts, _ := plan(size, 16<<20)
	b.SetBytes(size)
	for b.Loop() {
		if err := digest(f, parts); err != nil {
			b.Fatal(err)
		}
	}
}
