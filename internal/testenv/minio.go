package testenv

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MinIOEnv names the MinIO server binary, before PATH and ToolsBin.
const MinIOEnv = "FASTCAPA_MINIO"

// MinIORegion is the region the test servers enforce: a request signed
// for another region is refused (AuthorizationHeaderMalformed).
const MinIORegion = "us-east-1"

// ToolsBin is where `make deps` installs the tools that are built from
// source rather than taken from Debian (the MinIO server): .tools/bin
// under the module root.
func ToolsBin() string { return filepath.Join(Root(), ".tools", "bin") }

// MinIOBinary finds the MinIO server: $FASTCAPA_MINIO, else minio on
// PATH, else minio in ToolsBin.
func MinIOBinary() (string, error) {
	if p := os.Getenv(MinIOEnv); p != "" {
		if err := executable(p); err != nil {
			return "", fmt.Errorf("$%s: %w", MinIOEnv, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	p := filepath.Join(ToolsBin(), "minio")
	if err := executable(p); err != nil {
		return "", fmt.Errorf("minio server not found: not in $%s, not on PATH, not in %s (make deps installs it there)", MinIOEnv, ToolsBin())
	}
	return p, nil
}

// minioVersion is the module version a binary was built from, as go
// install records it.
func minioVersion(bin string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "version unknown"
	}
	return info.Main.Path + " " + info.Main.Version
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

// MinIO is a real MinIO server (the `minio server` binary, single drive)
// on a loopback port, with a data directory, root credentials and one
// bucket of its own. StartMinIO starts it; t.Cleanup stops it and checks
// that it exited. Read objects back with Object or Curl, which sign with
// curl's --aws-sigv4: a client independent of minio-go.
type MinIO struct {
	Endpoint  string // 127.0.0.1:port
	TLS       bool   // HTTPS (StartMinIOTLS), with a certificate signed by CAFile
	CAFile    string // PEM of the certificate the server presents (TLS only)
	Region    string // MinIORegion
	AccessKey string // root user
	SecretKey string // root password
	Bucket    string // created by StartMinIO
	Dir       string // the data directory

	bin, curl, certs, logPath, tmp string

	mu   sync.Mutex // cmd and done: a test may restart the server from another goroutine
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited; its state is then in cmd.ProcessState
}

// StartMinIO starts a MinIO server on plain HTTP for the test and creates
// m.Bucket. It skips the test outside CI, and fails it in CI, when the
// minio binary or a curl with --aws-sigv4 is missing; it fails it when
// $FASTCAPA_MINIO names no executable.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	return startMinIO(t, false)
}

// StartMinIOTLS is StartMinIO serving HTTPS, with a self-signed
// certificate for 127.0.0.1 in m.CAFile.
func StartMinIOTLS(t testing.TB) *MinIO {
	t.Helper()
	return startMinIO(t, true)
}

func startMinIO(t testing.TB, useTLS bool) *MinIO {
	t.Helper()
	bin, err := MinIOBinary()
	if err != nil && os.Getenv(MinIOEnv) != "" {
		t.Fatalf("%v (unset it to look on PATH and in %s)", err, ToolsBin())
	}
	Require(t, err == nil, fmt.Sprint(err))
	curl := requireCurlSigV4(t)
	base := t.TempDir()
	m := &MinIO{
		Region:    MinIORegion,
		AccessKey: "fc" + randomHex(9),
		SecretKey: randomHex(20),
		Bucket:    "fastcapa-test",
		Dir:       filepath.Join(base, "data"),
		bin:       bin,
		curl:      curl,
		certs:     filepath.Join(base, "certs"),
		logPath:   filepath.Join(base, "minio.log"),
		tmp:       base,
		TLS:       useTLS,
	}
	if useTLS {
		if err := selfSignedCert(m.certs); err != nil {
			t.Fatal(err)
		}
		m.CAFile = filepath.Join(m.certs, "public.crt")
	}
	t.Cleanup(func() {
		if m.Running() {
			m.Stop(t)
		}
		if t.Failed() {
			t.Logf("minio log (%s):\n%s", m.logPath, m.logTail())
		}
	})
	// The port is free when DeadAddr returns, but another process may
	// take it before minio binds it: try a few.
	for try := 1; ; try++ {
		m.Endpoint = DeadAddr(t)
		err := m.start()
		if err == nil {
			break
		}
		if try == 3 || !strings.Contains(m.logTail(), "address already in use") {
			t.Fatalf("start minio: %v\n%s", err, m.logTail())
		}
	}
	m.CreateBucket(t, m.Bucket)
	t.Logf("real MinIO server %s (%s) on %s, data in %s", bin, minioVersion(bin), m.Endpoint, m.Dir)
	return m
}

// Start starts the server again, after Stop or Kill, on the same port
// and data directory, and waits until it answers.
func (m *MinIO) Start(t testing.TB) {
	t.Helper()
	if m.Running() {
		t.Fatal("minio: Start while running")
	}
	if err := m.start(); err != nil {
		t.Fatalf("restart minio: %v\n%s", err, m.logTail())
	}
}

func (m *MinIO) start() error {
	logf, err := os.OpenFile(m.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	fmt.Fprintf(logf, "--- minio server --address %s, %s\n", m.Endpoint, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(m.bin, "server", "--quiet", "--address", m.Endpoint, "--certs-dir", m.certs, m.Dir)
	cmd.Env = append(withoutMinIOVars(os.Environ()),
		"MINIO_ROOT_USER="+m.AccessKey,
		"MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_SITE_REGION="+m.Region,
		"MINIO_BROWSER=off", // no console listener
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server dies with the test process, even one killed by a
	// timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	m.mu.Lock()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()
	if err := m.waitLive(cmd, done, 30*time.Second); err != nil {
		cmd.Process.Kill()
		<-done
		return err
	}
	return nil
}

// withoutMinIOVars drops the caller's MINIO_* variables, which would
// configure the test server.
func withoutMinIOVars(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "MINIO_") {
			out = append(out, kv)
		}
	}
	return out
}

// waitLive polls /minio/health/live until it answers 200.
func (m *MinIO) waitLive(cmd *exec.Cmd, done <-chan struct{}, limit time.Duration) error {
	// No keep-alive: an idle connection would outlive the test.
	tr := &http.Transport{DisableKeepAlives: true}
	if m.TLS {
		pem, err := os.ReadFile(m.CAFile)
		if err != nil {
			return err
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	}
	c := &http.Client{Timeout: time.Second, Transport: tr}
	deadline := time.Now().Add(limit)
	for {
		resp, err := c.Get(m.scheme() + "://" + m.Endpoint + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("minio exited at start: %v", cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("minio not live on %s after %v", m.Endpoint, limit)
		}
	}
}

// Running reports whether the server process is running.
func (m *MinIO) Running() bool {
	_, done := m.proc()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

func (m *MinIO) proc() (*exec.Cmd, chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd, m.done
}

// Stop stops the server gracefully (SIGTERM) and checks that it exited,
// with status 0, within 20 seconds.
func (m *MinIO) Stop(t testing.TB) {
	t.Helper()
	if !m.Running() {
		t.Fatal("minio: Stop while not running")
	}
	cmd, done := m.proc()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Errorf("minio did not exit within 20s of SIGTERM; killed\n%s", m.logTail())
		return
	}
	if !cmd.ProcessState.Success() {
		t.Errorf("minio exited after SIGTERM with %v\n%s", cmd.ProcessState, m.logTail())
	}
}

// Kill ends the server abruptly (SIGKILL), as a crash or power loss
// would, and waits for it.
func (m *MinIO) Kill(t testing.TB) {
	t.Helper()
	if !m.Running() {
		t.Fatal("minio: Kill while not running")
	}
	cmd, done := m.proc()
	cmd.Process.Kill()
	<-done
}

func (m *MinIO) logTail() string {
	b, _ := os.ReadFile(m.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// URL is the path-style URL of bucket/key on the server, each path
// element escaped as SigV4 canonicalizes it (every byte but A-Z, a-z,
// 0-9 and -_.~), so that curl's signature is the server's: "=" in a Hive
// partition's name is %3D.
func (m *MinIO) URL(bucket, key string) string {
	p := "/" + s3Escape(bucket)
	if key != "" {
		parts := strings.Split(key, "/")
		for i, s := range parts {
			parts[i] = s3Escape(s)
		}
		p += "/" + strings.Join(parts, "/")
	}
	return m.scheme() + "://" + m.Endpoint + p
}

// s3Escape percent-encodes every byte of s but SigV4's unreserved ones.
func s3Escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func (m *MinIO) scheme() string {
	if m.TLS {
		return "https"
	}
	return "http"
}

// Curl runs curl against the server, signed with the root credentials by
// curl's own SigV4 (--aws-sigv4), with args (a method, headers) before
// rawURL. It returns the HTTP status and the response body; a transport
// failure fails the test.
func (m *MinIO) Curl(t testing.TB, rawURL string, args ...string) (status int, body []byte) {
	t.Helper()
	f, err := os.CreateTemp(m.tmp, "curl-body-")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	out := f.Name()
	defer os.Remove(out)
	argv := append([]string{"-sS", "--aws-sigv4", "aws:amz:" + m.Region + ":s3",
		"--user", m.AccessKey + ":" + m.SecretKey, "-o", out, "-w", "%{http_code}"}, args...)
	if m.TLS {
		argv = append(argv, "--cacert", m.CAFile)
	}
	argv = append(argv, rawURL)
	cmd := exec.Command(m.curl, argv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	code, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %s: %v: %s", rawURL, err, stderr.String())
	}
	status, err = strconv.Atoi(string(code))
	if err != nil {
		t.Fatalf("curl %s: status %q", rawURL, code)
	}
	if body, err = os.ReadFile(out); err != nil {
		t.Fatal(err)
	}
	return status, body
}

// Object reads bucket/key with curl: the status (200, or 404 when the
// object does not exist) and the body.
func (m *MinIO) Object(t testing.TB, bucket, key string) (status int, body []byte) {
	t.Helper()
	return m.Curl(t, m.URL(bucket, key))
}

// CreateBucket creates a bucket with curl, waiting for the server to
// finish initializing (503) for up to 30 seconds.
func (m *MinIO) CreateBucket(t testing.TB, bucket string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body := m.Curl(t, m.URL(bucket, ""), "-X", "PUT")
		if status == http.StatusOK {
			return
		}
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("create bucket %s: HTTP %d: %s", bucket, status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// IncompleteUploads lists the IDs of the multipart uploads of key in
// bucket begun and neither completed nor aborted (S3
// ListMultipartUploads with the key as prefix, with curl). MinIO finds
// uploads from before a restart only by their exact key, so give one.
func (m *MinIO) IncompleteUploads(t testing.TB, bucket, key string) []string {
	t.Helper()
	// "uploads=", not "uploads": curl 7.88 signs a query parameter
	// without '=' other than S3 canonicalizes it (SignatureDoesNotMatch).
	status, body := m.Curl(t, m.URL(bucket, "")+"?prefix="+url.QueryEscape(key)+"&uploads=")
	if status != http.StatusOK {
		t.Fatalf("list multipart uploads of %s in %s: HTTP %d: %s", key, bucket, status, body)
	}
	var ids []string
	for _, match := range uploadRE.FindAllSubmatch(body, -1) {
		if string(match[1]) == key {
			ids = append(ids, string(match[2]))
		}
	}
	return ids
}

var uploadRE = regexp.MustCompile(`<Upload><Key>([^<]*)</Key><UploadId>([^<]*)</UploadId>`)

var curlSigV4 struct {
	once sync.Once
	path string
	err  error
}

// requireCurlSigV4 needs curl 7.75 or later, which signs requests with
// --aws-sigv4.
func requireCurlSigV4(t testing.TB) string {
	t.Helper()
	curlSigV4.once.Do(func() {
		p, err := exec.LookPath("curl")
		if err != nil {
			curlSigV4.err = errors.New("curl not on PATH (make deps installs it)")
			return
		}
		out, err := exec.Command(p, "--version").Output()
		var major, minor int
		if err == nil {
			_, err = fmt.Sscanf(string(out), "curl %d.%d", &major, &minor)
		}
		if err != nil {
			curlSigV4.err = fmt.Errorf("curl --version: %v", err)
			return
		}
		if major < 7 || major == 7 && minor < 75 {
			curlSigV4.err = fmt.Errorf("curl %d.%d has no --aws-sigv4: 7.75 or later needed", major, minor)
			return
		}
		curlSigV4.path = p
	})
	Require(t, curlSigV4.err == nil, fmt.Sprint(curlSigV4.err))
	return curlSigV4.path
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// selfSignedCert writes a self-signed certificate for 127.0.0.1 and
// localhost, valid for a day, and its key where minio looks for them
// (public.crt, private.key in its certs directory).
func selfSignedCert(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "fastcapa test MinIO"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "public.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "private.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600)
}
