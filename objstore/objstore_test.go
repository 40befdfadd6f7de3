package objstore_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/objstore"
)

// The tests run against a real MinIO server on loopback
// (testenv.StartMinIO), and read objects back with curl's own SigV4
// signing, not with minio-go.

// TestMain fails the run if the tests leave a file descriptor open:
// local files, connections to the server.
func TestMain(m *testing.M) { testenv.RunCheckingFDs(m) }

// logBuffer keeps an Uploader's log lines and copies them to the test
// log.
type logBuffer struct {
	t  testing.TB
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(p)
	l.mu.Unlock()
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// spec is a Spec for the server m, with 5 MiB parts and quick retries.
func spec(t testing.TB, m *testenv.MinIO) (objstore.Spec, *logBuffer) {
	logs := &logBuffer{t: t}
	return objstore.Spec{
		Endpoint:     m.Endpoint,
		Region:       m.Region,
		Bucket:       m.Bucket,
		Credentials:  objstore.Credentials{AccessKey: m.AccessKey, SecretKey: m.SecretKey},
		PartSize:     objstore.MinPartSize,
		Attempts:     20,
		RetryWait:    100 * time.Millisecond,
		MaxRetryWait: time.Second,
		Logger:       slog.New(slog.NewTextHandler(logs, nil)),
	}, logs
}

func newUploader(t testing.TB, s objstore.Spec) *objstore.Uploader {
	t.Helper()
	u, err := objstore.New(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// randomFile writes n pseudo-random bytes (seeded by seed) to dir/name.
func randomFile(t testing.TB, dir, name string, n int, seed uint64) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(data)
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}

// checkObject reads key back with curl and compares it with want.
func checkObject(t testing.TB, m *testenv.MinIO, key string, want []byte) {
	t.Helper()
	status, got := m.Object(t, m.Bucket, key)
	if status != 200 {
		t.Fatalf("curl GET %s: HTTP %d: %s", key, status, got)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("curl GET %s: %d bytes, md5 %x; the file: %d bytes, md5 %x", key, len(got), md5.Sum(got), len(want), md5.Sum(want))
	}
}

// checkAbsent checks that key is not visible.
func checkAbsent(t testing.TB, m *testenv.MinIO, key string) {
	t.Helper()
	if status, body := m.Object(t, m.Bucket, key); status != 404 {
		t.Fatalf("curl GET %s: HTTP %d (%d bytes), want 404: nothing may be visible", key, status, len(body))
	}
}

func checkNoIncompleteUploads(t testing.TB, m *testenv.MinIO, key string) {
	t.Helper()
	if left := m.IncompleteUploads(t, m.Bucket, key); len(left) > 0 {
		t.Errorf("multipart uploads of %s left incomplete: %v", key, left)
	}
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// multipartETag is S3's ETag of b sent in parts of size ps.
func multipartETag(b []byte, ps int) string {
	var sums []byte
	n := 0
	for off := 0; off < len(b); off += ps {
		s := md5.Sum(b[off:min(off+ps, len(b))])
		sums = append(sums, s[:]...)
		n++
	}
	return fmt.Sprintf("%s-%d", md5Hex(sums), n)
}

// TestUploadMinIO uploads files of each kind to a real MinIO server and
// reads them back with curl: byte for byte the file.
func TestUploadMinIO(t *testing.T) {
	m := testenv.StartMinIO(t)
	s, _ := spec(t, m)
	s.Prefix = "sensor1/"
	u := newUploader(t, s)
	dir := t.TempDir()
	ctx := context.Background()

	metron, err := os.ReadFile(filepath.Join(testenv.Pcaps(t), "metron-example.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	pcapPath := filepath.Join(dir, "metron.pcap")
	if err := os.WriteFile(pcapPath, metron, 0o644); err != nil {
		t.Fatal(err)
	}
	emptyPath, empty := randomFile(t, dir, "empty.pcap", 0, 1)
	bigPath, big := randomFile(t, dir, "20261122/all-101500.pcap.zst", 2*objstore.MinPartSize+12345, 2)
	exactPath, exact := randomFile(t, dir, "exact.pcap", objstore.MinPartSize, 3)

	for _, c := range []struct {
		name, path, key string
		data            []byte
		parts           int
		etag            string
	}{
		{"empty", emptyPath, "empty.pcap", empty, 0, md5Hex(empty)},
		{"small pcap", pcapPath, "20170515/metron-example.pcap", metron, 0, md5Hex(metron)},
		{"exactly one part", exactPath, "exact.pcap", exact, 0, md5Hex(exact)},
		{"multipart, subdirectories", bigPath, "20261122/sub/all-101500.pcap.zst", big, 3, multipartETag(big, objstore.MinPartSize)},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			obj, err := u.Upload(ctx, c.path, c.key)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%v: %d bytes, %d parts, ETag %s, in %v", obj, obj.Size, obj.Parts, obj.ETag, time.Since(start))
			want := objstore.Object{Bucket: m.Bucket, Key: "sensor1/" + c.key, Name: c.key, Size: int64(len(c.data)), ETag: c.etag, Parts: c.parts}
			if obj != want {
				t.Errorf("Upload = %+v, want %+v", obj, want)
			}
			checkObject(t, m, want.Key, c.data)
			checkNoIncompleteUploads(t, m, want.Key)
			if _, err := os.Stat(c.path); err != nil {
				t.Errorf("the local file: %v (Upload leaves it)", err)
			}
		})
	}
	if c := u.Counters(); c.Objects != 4 || c.Bytes != uint64(len(metron)+len(big)+len(exact)) || c.Failures != 0 || c.Retries != 0 {
		t.Errorf("Counters = %+v", c)
	}
}

// TestUploadTLS: the same over HTTPS, where requests are signed
// differently (an unsigned payload beside its Content-MD5). A server
// whose certificate is not trusted, or TLS on one side only, fails at
// New with ErrTLS, without retries.
func TestUploadTLS(t *testing.T) {
	m := testenv.StartMinIOTLS(t)
	s, _ := spec(t, m)
	s.TLS = true

	start := time.Now()
	if _, err := objstore.New(s); !errors.Is(err, objstore.ErrTLS) || !strings.Contains(err.Error(), "SSL_CERT_FILE") {
		t.Errorf("New with the server's CA not trusted: want ErrTLS saying how to trust it, got %v", err)
	} else {
		t.Log(err)
	}
	plain := s
	plain.TLS = false
	if _, err := objstore.New(plain); !errors.Is(err, objstore.ErrTLS) || !strings.Contains(err.Error(), "set TLS") {
		t.Errorf("New over HTTP to an HTTPS server: want ErrTLS saying set TLS, got %v", err)
	} else {
		t.Log(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("TLS mismatches took %v: they are not retried", d)
	}

	t.Setenv("SSL_CERT_FILE", m.CAFile)
	u := newUploader(t, s)
	dir := t.TempDir()
	small, smallData := randomFile(t, dir, "small.pcap", 100000, 1)
	big, bigData := randomFile(t, dir, "big.pcap", objstore.MinPartSize+100000, 2)
	for _, f := range []struct {
		path, key string
		data      []byte
	}{{small, "tls/small.pcap", smallData}, {big, "tls/big.pcap", bigData}} {
		if _, err := u.Upload(context.Background(), f.path, f.key); err != nil {
			t.Fatal(err)
		}
		checkObject(t, m, f.key, f.data)
	}

	m2 := testenv.StartMinIO(t)
	s2, _ := spec(t, m2)
	s2.TLS = true
	if _, err := objstore.New(s2); !errors.Is(err, objstore.ErrTLS) || !strings.Contains(err.Error(), "set TLS false") {
		t.Errorf("New over HTTPS to an HTTP server: want ErrTLS saying set TLS false, got %v", err)
	} else {
		t.Log(err)
	}
}

// TestUploadConcurrent: one Uploader, several files at once.
func TestUploadConcurrent(t *testing.T) {
	m := testenv.StartMinIO(t)
	s, _ := spec(t, m)
	u := newUploader(t, s)
	dir := t.TempDir()
	var wg sync.WaitGroup
	data := make([][]byte, 4)
	errs := make([]error, 4)
	for i := range 4 {
		var p string
		p, data[i] = randomFile(t, dir, fmt.Sprintf("%d.pcap", i), (i%2)*objstore.MinPartSize+100000*(i+1), uint64(i))
		wg.Go(func() {
			_, errs[i] = u.Upload(context.Background(), p, fmt.Sprintf("concurrent/%d.pcap", i))
		})
	}
	wg.Wait()
	for i := range 4 {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		checkObject(t, m, fmt.Sprintf("concurrent/%d.pcap", i), data[i])
	}
}

// TestUploadNeverOverwrites: the same file again is found there; another
// file under a taken key gets a numbered key.
func TestUploadNeverOverwrites(t *testing.T) {
	m := testenv.StartMinIO(t)
	s, _ := spec(t, m)
	u := newUploader(t, s)
	dir := t.TempDir()
	ctx := context.Background()
	pathA, a := randomFile(t, dir, "a/x.pcap", 1000, 1)
	pathB, b := randomFile(t, dir, "b/x.pcap", 1000, 2)
	pathC, c := randomFile(t, dir, "c/x.pcap", objstore.MinPartSize+1, 3)
	const key = "20261122/x.pcap"

	for _, step := range []struct {
		path, key   string
		wantKey     string
		wantExisted bool
	}{
		{pathA, key, key, false},
		{pathA, key, key, true},                  // the same file: done already
		{pathB, key, "20261122/x.1.pcap", false}, // another file: numbered
		{pathB, key, "20261122/x.1.pcap", true},  // found under its numbered key
		{pathC, key, "20261122/x.2.pcap", false}, // multipart, numbered
		{pathC, key, "20261122/x.2.pcap", true},
	} {
		obj, err := u.Upload(ctx, step.path, step.key)
		if err != nil {
			t.Fatal(err)
		}
		if obj.Key != step.wantKey || obj.Name != step.wantKey || obj.Existed != step.wantExisted {
			t.Errorf("Upload(%s, %s) = key %s (name %s), existed %v; want %s, %v", step.path, step.key, obj.Key, obj.Name, obj.Existed, step.wantKey, step.wantExisted)
		}
	}
	checkObject(t, m, key, a)
	checkObject(t, m, "20261122/x.1.pcap", b)
	checkObject(t, m, "20261122/x.2.pcap", c)
	if got := u.Counters(); got.Objects != 6 || got.Existing != 3 || got.Bytes != uint64(len(a)+len(b)+len(c)) {
		t.Errorf("Counters = %+v", got)
	}
}

// TestNewNoBucket: a bucket that does not exist is an error at New that
// names it.
func TestNewNoBucket(t *testing.T) {
	m := testenv.StartMinIO(t)
	s, _ := spec(t, m)
	s.Bucket = "no-such-bucket"
	u, err := objstore.New(s)
	if err == nil {
		u.Close()
		t.Fatal("New succeeded")
	}
	t.Log(err)
	if !errors.Is(err, objstore.ErrNoBucket) || !strings.Contains(err.Error(), `"no-such-bucket"`) || !strings.Contains(err.Error(), "create it") {
		t.Errorf("want ErrNoBucket naming the bucket and the fix, got %v", err)
	}
}

// TestNewCredentialsRefused: a wrong secret, an unknown access key and a
// wrong region are errors at New that say which.
func TestNewCredentialsRefused(t *testing.T) {
	m := testenv.StartMinIO(t)
	for _, c := range []struct {
		name string
		edit func(*objstore.Spec)
		want string
	}{
		{"wrong secret", func(s *objstore.Spec) { s.Credentials.SecretKey += "x" }, "fix the secret key"},
		{"unknown access key", func(s *objstore.Spec) { s.Credentials.AccessKey = "nobody" }, `does not know access key "nobody"`},
		{"wrong region", func(s *objstore.Spec) { s.Region = "eu-west-1" }, "fix Region"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := spec(t, m)
			c.edit(&s)
			start := time.Now()
			u, err := objstore.New(s)
			if err == nil {
				u.Close()
				t.Fatal("New succeeded")
			}
			t.Log(err)
			if !errors.Is(err, objstore.ErrAuth) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("want ErrAuth saying %q, got %v", c.want, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("New took %v: a refusal is not retried", d)
			}
		})
	}
}

// TestCredentialsFromEnv reads the keys as the AWS tools do.
func TestCredentialsFromEnv(t *testing.T) {
	m := testenv.StartMinIO(t)
	s, _ := spec(t, m)
	s.Credentials = objstore.Credentials{FromEnv: true}

	t.Setenv(objstore.EnvAccessKey, "")
	t.Setenv(objstore.EnvSecretKey, m.SecretKey)
	if _, err := objstore.New(s); !errors.Is(err, objstore.ErrSpec) || !strings.Contains(err.Error(), objstore.EnvAccessKey) {
		t.Errorf("New without %s: want ErrSpec naming it, got %v", objstore.EnvAccessKey, err)
	}

	t.Setenv(objstore.EnvAccessKey, m.AccessKey)
	u := newUploader(t, s)
	p, data := randomFile(t, t.TempDir(), "f.pcap", 4096, 1)
	if _, err := u.Upload(context.Background(), p, "env/f.pcap"); err != nil {
		t.Fatal(err)
	}
	checkObject(t, m, "env/f.pcap", data)
}

// TestUploadBadKeyOrFile: keys that are not relative paths of visible
// names, and local paths that are not regular files, fail before any
// request.
func TestUploadBadKeyOrFile(t *testing.T) {
	m := testenv.StartMinIO(t)
	s, _ := spec(t, m)
	u := newUploader(t, s)
	p, _ := randomFile(t, t.TempDir(), "f.pcap", 10, 1)
	ctx := context.Background()
	for _, key := range []string{"", "/a.pcap", "a/", "a//b.pcap", "../a.pcap", "a/./b", "a/.b.pcap.inprogress", ".x/.a.pcap.idx", "a/..idx", "a/.b.pcap.idx/c", `a\b`, "a\nb", strings.Repeat("k", 1025), "\xff"} {
		if _, err := u.Upload(ctx, p, key); !errors.Is(err, objstore.ErrKey) {
			t.Errorf("Upload key %q: want ErrKey, got %v", key, err)
		}
	}
	// A capture's sidecar index is the one hidden name a key may end in.
	if _, err := u.Upload(ctx, p, "a/.b.pcap.idx"); err != nil {
		t.Errorf("a sidecar's key: %v", err)
	}
	if _, err := u.Upload(ctx, filepath.Join(t.TempDir(), "missing.pcap"), "m.pcap"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: want fs.ErrNotExist, got %v", err)
	}
	if _, err := u.Upload(ctx, t.TempDir(), "d.pcap"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: want an error, got %v", err)
	}
	u.Close()
	if _, err := u.Upload(ctx, p, "closed.pcap"); !errors.Is(err, objstore.ErrClosed) {
		t.Errorf("after Close: want ErrClosed, got %v", err)
	}
	checkAbsent(t, m, "closed.pcap")
}

// proxy forwards TCP connections to a server and runs fire once when the
// bytes sent to the server pass a mark: a way to act in the middle of a
// request body.
type proxy struct {
	l      net.Listener
	target string
	mark   int64
	fire   func()
	sent   atomic.Int64
	once   sync.Once
	mu     sync.Mutex
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func startProxy(t testing.TB, target string, mark int64, fire func()) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target, mark: mark, fire: fire, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) Addr() string { return p.l.Addr().String() }

func (p *proxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *proxy) serve(c net.Conn) {
	defer p.wg.Done()
	p.track(c, true)
	defer func() { p.track(c, false); c.Close() }()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return // the server is down: the client sees its connection closed
	}
	p.track(s, true)
	defer func() { p.track(s, false); s.Close() }()
	// Plain reads and writes: io.Copy between TCP connections would
	// splice through pipes the runtime caches, which the descriptor
	// count would take for a leak.
	done := make(chan struct{}, 2)
	go func() { io.Copy(struct{ io.Writer }{c}, struct{ io.Reader }{s}); done <- struct{}{} }()
	go func() { io.Copy(countingWriter{s, p}, struct{ io.Reader }{c}); done <- struct{}{} }()
	<-done // either side ended: end both
	c.Close()
	s.Close()
	<-done
}

type countingWriter struct {
	w io.Writer
	p *proxy
}

func (cw countingWriter) Write(b []byte) (int, error) {
	// fire runs before these bytes go on, and holds them: what it does
	// happens in the middle of the body, however fast the rest would go.
	if cw.p.sent.Add(int64(len(b))) >= cw.p.mark {
		cw.p.once.Do(cw.p.fire)
	}
	return cw.w.Write(b)
}

// TestUploadServerRestart kills the server (SIGKILL) in the middle of a
// request body and starts it again a second later: the request is tried
// again until the server answers, and the object is whole.
func TestUploadServerRestart(t *testing.T) {
	for _, c := range []struct {
		name string
		size int
		mark int64 // bytes sent when the server dies
	}{
		{"single PUT", 3 << 20, 1 << 20},
		{"multipart, in part 2", 3*objstore.MinPartSize - 1000, objstore.MinPartSize + 2<<20},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := testenv.StartMinIO(t)
			restarted := make(chan struct{})
			px := startProxy(t, m.Endpoint, c.mark, func() {
				defer close(restarted)
				m.Kill(t)
				t.Log("server killed")
				time.Sleep(time.Second)
				m.Start(t)
				t.Log("server started again")
			})
			s, logs := spec(t, m)
			s.Endpoint = px.Addr()
			u := newUploader(t, s)
			p, data := randomFile(t, t.TempDir(), "f.pcap", c.size, 7)
			start := time.Now()
			obj, err := u.Upload(context.Background(), p, "restart/f.pcap")
			<-restarted
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("uploaded %v in %v with %d retries", obj, time.Since(start), u.Counters().Retries)
			if u.Counters().Retries == 0 || !strings.Contains(logs.String(), "trying again") {
				t.Error("no retry counted or logged: the server was not killed mid-upload")
			}
			checkObject(t, m, "restart/f.pcap", data)
			checkNoIncompleteUploads(t, m, "restart/f.pcap")
		})
	}
}

// TestUploadServerGone: a server that stays down fails the upload with
// ErrUnavailable once the attempts are spent, and leaves nothing
// visible. The multipart upload it could not abort stays, invisible,
// and the log says so.
func TestUploadServerGone(t *testing.T) {
	m := testenv.StartMinIO(t)
	killed := make(chan struct{})
	px := startProxy(t, m.Endpoint, objstore.MinPartSize+1<<20, func() { m.Kill(t); close(killed) })
	s, logs := spec(t, m)
	s.Endpoint = px.Addr()
	s.Attempts, s.RetryWait, s.MaxRetryWait = 3, 50*time.Millisecond, 100*time.Millisecond
	u := newUploader(t, s)
	p, _ := randomFile(t, t.TempDir(), "f.pcap", 2*objstore.MinPartSize, 1)
	_, err := u.Upload(context.Background(), p, "gone/f.pcap")
	<-killed
	t.Log(err)
	if !errors.Is(err, objstore.ErrUnavailable) || !strings.Contains(err.Error(), "3 attempts") || !strings.Contains(err.Error(), "part 2/2") {
		t.Errorf("want ErrUnavailable after 3 attempts at part 2, got %v", err)
	}
	if !strings.Contains(logs.String(), "could not abort a multipart upload") {
		t.Error("the multipart upload left behind is not logged")
	}
	m.Start(t)
	checkAbsent(t, m, "gone/f.pcap")
	if left := m.IncompleteUploads(t, m.Bucket, "gone/f.pcap"); len(left) != 1 {
		t.Errorf("incomplete uploads %v, want the one left behind", left)
	}
	if c := u.Counters(); c.Failures != 1 || c.Retries != 2 || c.Objects != 0 {
		t.Errorf("Counters = %+v", c)
	}
}

// TestUploadCanceled cancels the context in the middle of a request
// body: Upload returns at once with the context's error, nothing is
// visible, and the multipart upload is aborted.
func TestUploadCanceled(t *testing.T) {
	m := testenv.StartMinIO(t)
	for _, c := range []struct {
		name string
		size int
		mark int64
	}{
		{"single PUT", 4 << 20, 1 << 20},
		{"multipart, in part 2", 3 * objstore.MinPartSize, objstore.MinPartSize + 1<<20},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var canceledAt atomic.Int64
			px := startProxy(t, m.Endpoint, c.mark, func() { canceledAt.Store(time.Now().UnixNano()); cancel() })
			s, _ := spec(t, m)
			s.Endpoint = px.Addr()
			u := newUploader(t, s)
			p, _ := randomFile(t, t.TempDir(), "f.pcap", c.size, 1)
			_, err := u.Upload(ctx, p, "canceled/f.pcap")
			returned := time.Now()
			t.Log(err)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("want context.Canceled, got %v", err)
			}
			if d := returned.Sub(time.Unix(0, canceledAt.Load())); d > time.Second {
				t.Errorf("Upload returned %v after the cancel", d)
			}
			checkAbsent(t, m, "canceled/f.pcap")
			checkNoIncompleteUploads(t, m, "canceled/f.pcap")
		})
	}
}
