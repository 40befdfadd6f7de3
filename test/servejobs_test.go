package test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/pcap"
	"github.com/fastcapa-go/fastcapa/serve"
)

// jobClient speaks Metron's REST API as one user.
type jobClient struct {
	t          *testing.T
	base       string
	user, pass string
}

func (c jobClient) do(method, path, body string) (int, []byte) {
	c.t.Helper()
	req := newRequest(c.t, method, c.base+path, body, "Content-Type", "application/json")
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	a := ask(c.t, nil, req)
	return a.code, a.body
}

func (c jobClient) submit(kind, body string) (int, serve.Status, serve.RestError) {
	c.t.Helper()
	code, b := c.do("POST", "/api/v1/pcap/"+kind, body)
	var st serve.Status
	var re serve.RestError
	if code == 200 {
		json.Unmarshal(b, &st)
	} else {
		json.Unmarshal(b, &re)
	}
	return code, st, re
}

func (c jobClient) status(id string) (int, serve.Status) {
	c.t.Helper()
	code, b := c.do("GET", "/api/v1/pcap/"+id, "")
	var st serve.Status
	json.Unmarshal(b, &st)
	return code, st
}

// wait polls a job until its state is not RUNNING or FINALIZING.
func (c jobClient) wait(id string) serve.Status {
	c.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, st := c.status(id)
		if code != 200 {
			c.t.Fatalf("job %s: %d", id, code)
		}
		if st.JobStatus != serve.Running && st.JobStatus != serve.Finalizing {
			return st
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("job %s still %s", id, st.JobStatus)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pages reads a finished job's pages 1..n, checking n+1 and 0 are 404.
func (c jobClient) pages(id string, n int) []pcap.Record {
	c.t.Helper()
	var recs []pcap.Record
	for page := 1; page <= n; page++ {
		code, b := c.do("GET", fmt.Sprintf("/api/v1/pcap/%s/raw?page=%d", id, page), "")
		if code != 200 {
			c.t.Fatalf("job %s page %d: %d %s", id, page, code, b)
		}
		recs = append(recs, pcaptest.Read(c.t, strings.NewReader(string(b)))...)
	}
	for _, page := range []int{0, n + 1} {
		if code, _ := c.do("GET", fmt.Sprintf("/api/v1/pcap/%s/raw?page=%d", id, page), ""); code != 404 {
			c.t.Errorf("job %s page %d of %d: %d, want 404", id, page, n, code)
		}
	}
	return recs
}

// htpasswd writes user:bcrypt lines for user=password pairs.
func htpasswd(t *testing.T, pairs ...string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		h, err := bcrypt.GenerateFromPassword([]byte(pairs[i+1]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s\n", pairs[i], h)
	}
	f := filepath.Join(t.TempDir(), "htpasswd")
	os.WriteFile(f, []byte(b.String()), 0o600)
	return f
}

// TestServeJobs: Metron's REST jobs over a store the sink wrote. A fixed
// and an expression job succeed with pages (1-based, 404 past the end)
// that together hold exactly tcpdump's packets; status, list by state
// and config answer; a user's second running job is refused with
// Metron's message, naming the first; a killed job is KILLED without
// pages; another user sees none of them; a job survives a restart, and
// one running when the server was killed is FAILED after it; finished
// jobs expire after the retention.
func TestServeJobs(t *testing.T) {
	st := newServeStore(t)
	big := bigStore(t, 300_000)
	jobsDir := t.TempDir()
	pw := htpasswd(t, "alice", "a-pass", "bob", "b-pass")
	args := []string{"-jobs-dir", jobsDir, "-page-size", "100", "-htpasswd", pw, st.dir, big}
	p, base := startServe(t, args...)
	alice := jobClient{t, base, "alice", "a-pass"}
	bob := jobClient{t, base, "bob", "b-pass"}

	// A fixed job and an expression job, each to the end.
	from, to := st.ms(100), st.ms(900)
	fixed := fmt.Sprintf(`{"basePath":%q,"ipSrcAddr":"62.75.195.236","includeReverse":true,"startTimeMs":%d,"endTimeMs":%d}`, st.dir, from, to)
	expr := fmt.Sprintf(`{"basePath":%q,"query":"udp or icmp"}`, st.dir)
	rangeFile := filepath.Join(t.TempDir(), "range.pcap")
	pcaptest.WriteCapture(t, rangeFile, pcaptest.File{}, st.recs[100:901])
	var done serve.Status // the fixed job, finished
	for _, c := range []struct {
		kind, body string
		want       []pcap.Record
	}{
		{"fixed", fixed, pcaptest.TcpdumpKeeps(t, rangeFile, "host 62.75.195.236 or (vlan and host 62.75.195.236)")},
		{"query", expr, pcaptest.TcpdumpKeeps(t, st.src, "udp or icmp")},
	} {
		code, s, re := alice.submit(c.kind, c.body)
		if code != 200 || s.JobStatus != serve.Running || s.JobID == "" {
			t.Fatalf("%s: %d %+v %+v", c.kind, code, s, re)
		}
		s = alice.wait(s.JobID)
		pages := (len(c.want) + 99) / 100
		if s.JobStatus != serve.Succeeded || s.PageTotal != pages || s.PercentComplete != 100 || s.Summary == nil || s.Summary.Matched != int64(len(c.want)) {
			t.Errorf("%s: %+v, want SUCCEEDED with %d pages", c.kind, s, pages)
		}
		got := alice.pages(s.JobID, s.PageTotal)
		sameRecords(t, c.kind+" job pages", got, c.want)
		code, b := alice.do("GET", "/api/v1/pcap/"+s.JobID+"/config", "")
		if code != 200 || !strings.Contains(string(b), st.dir) {
			t.Errorf("%s config: %d %s", c.kind, code, b)
		}
		if code, _ := bob.status(s.JobID); code != 404 {
			t.Errorf("bob sees alice's job: %d", code)
		}
		if code, _ := bob.do("GET", "/api/v1/pcap/"+s.JobID+"/raw?page=1", ""); code != 404 {
			t.Errorf("bob reads alice's page: %d", code)
		}
		t.Logf("%s job: %d packets in %d pages", c.kind, len(got), s.PageTotal)
		if c.kind == "fixed" {
			done = s
		}
	}

	// A long job (every packet of the big store, 3 000 pages): RUNNING;
	// a second is refused; kill; bob may run his own.
	slow := fmt.Sprintf(`{"basePath":%q,"query":""}`, big)
	code, run, _ := alice.submit("query", slow)
	if code != 200 {
		t.Fatalf("slow job: %d", code)
	}
	code, _, re := alice.submit("query", slow)
	wantMsg := "Cannot submit job because a job is already running.  Please contact the administrator to cancel job(s) with id(s) " + run.JobID
	if code != 429 || re.Message != wantMsg {
		t.Errorf("second job: %d %+v, want 429 %q", code, re, wantMsg)
	}
	code, bobs, _ := bob.submit("query", expr)
	if code != 200 {
		t.Errorf("bob's job refused: %d", code)
	}
	code, b := alice.do("GET", "/api/v1/pcap?state=RUNNING", "")
	if code != 200 || !strings.Contains(string(b), run.JobID) || strings.Contains(string(b), done.JobID) {
		t.Errorf("list RUNNING: %d %s", code, b)
	}
	if code, _ := alice.do("GET", "/api/v1/pcap/"+run.JobID+"/raw?page=1", ""); code != 404 {
		t.Errorf("a page of a running job: %d, want 404", code)
	}
	code, b = alice.do("DELETE", "/api/v1/pcap/kill/"+run.JobID, "")
	if code != 200 || !strings.Contains(string(b), serve.Killed) {
		t.Errorf("kill: %d %s", code, b)
	}
	if s := alice.wait(run.JobID); s.JobStatus != serve.Killed || s.PageTotal != 0 {
		t.Errorf("killed job: %+v", s)
	}
	if code, _ := alice.do("DELETE", "/api/v1/pcap/kill/job_0_0000", ""); code != 404 {
		t.Errorf("kill of no job: %d", code)
	}
	bob.wait(bobs.JobID)

	// Killed while a job runs: after a restart, that job is FAILED and
	// the finished one still serves its pages.
	code, run, _ = alice.submit("query", slow)
	if code != 200 {
		t.Fatalf("slow job: %d", code)
	}
	p.kill()
	p, base = startServe(t, args...)
	alice.base = base
	if s := alice.wait(run.JobID); s.JobStatus != serve.JobFailed || !strings.Contains(s.Description, "stopped") {
		t.Errorf("a job running at a crash, after the restart: %+v", s)
	}
	if _, s := alice.status(done.JobID); s.JobStatus != serve.Succeeded {
		t.Errorf("a finished job after the restart: %+v", s)
	} else {
		alice.pages(done.JobID, s.PageTotal)
	}

	// Retention: a short one expires every finished job, pages and all.
	p.stop()
	_, base = startServe(t, append([]string{"-job-retention", "1s"}, args...)...)
	alice.base = base
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _ := alice.status(done.JobID); code == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a finished job did not expire")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(jobsDir, done.JobID)); !os.IsNotExist(err) {
		t.Errorf("the expired job's directory is still there: %v", err)
	}
}

// pki is a test CA and another, the server's certificate for 127.0.0.1
// (the first CA's), and client certificates of either.
type pki struct {
	dir                   string
	ca, ca2               string // the CAs' certificate files
	serverCert, serverKey string
	caCert, ca2Cert       *x509.Certificate
	caKey, ca2Key         *ecdsa.PrivateKey
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.caCert, p.caKey, p.ca = p.cert(t, "ca", "test CA", nil, nil, true)
	p.ca2Cert, p.ca2Key, p.ca2 = p.cert(t, "ca2", "other CA", nil, nil, true)
	p.serverCert = p.issue(t, "server", "127.0.0.1", false)
	p.serverKey = filepath.Join(p.dir, "server.key")
	return p
}

// issue makes name.crt and name.key for common name cn, signed by the
// first CA, or by the other one.
func (p *pki) issue(t *testing.T, name, cn string, other bool) string {
	ca, key := p.caCert, p.caKey
	if other {
		ca, key = p.ca2Cert, p.ca2Key
	}
	_, _, crt := p.cert(t, name, cn, ca, key, false)
	return crt
}

func (p *pki) cert(t *testing.T, name, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        isCA, BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(cn); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	crt := filepath.Join(p.dir, name+".crt")
	os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(p.dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	return c, key, crt
}

// TestServeAuth: with TLS client certificates (as Stenographer), a
// client without one, or with one another CA signed, is refused in the
// handshake; with one, the certificate's name is the user. Bearer tokens
// and passwords are checked against their hashes, wrong ones refused
// even with a certificate. pcapstore query -server speaks it all. A
// non-loopback address without credentials is refused at start-up.
func TestServeAuth(t *testing.T) {
	st := queryStore(t)
	k := newPKI(t)
	carol := k.issue(t, "carol", "carol", false)
	mallory := k.issue(t, "mallory", "carol", true) // the same name, by the other CA

	sum := sha256.Sum256([]byte("robot-token"))
	tokens := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(tokens, []byte("robot:"+hex.EncodeToString(sum[:])+"\n"), 0o600)
	p, base := startServe(t, "-jobs-dir", t.TempDir(), "-tls-cert", k.serverCert, "-tls-key", k.serverKey,
		"-tls-client-ca", k.ca, "-tokens", tokens, "-htpasswd", htpasswd(t, "alice", "a-pass"), st)
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("not HTTPS: %s", base)
	}
	client := func(cert string) *http.Client {
		var key string
		if cert != "" {
			key = strings.TrimSuffix(cert, ".crt") + ".key"
		}
		tc, err := serve.ClientTLS(k.ca, cert, key)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	}
	for _, c := range []struct {
		name   string
		client *http.Client
		header []string
		user   string // "" refused in the handshake, "-" refused with 401
	}{
		{"no certificate", client(""), nil, ""},
		{"another CA's certificate", client(mallory), nil, ""},
		{"certificate", client(carol), nil, "carol"},
		{"certificate and token", client(carol), []string{"Authorization", "Bearer robot-token"}, "robot"},
		{"certificate and wrong token", client(carol), []string{"Authorization", "Bearer robot-tokeN"}, "-"},
		{"certificate and password", client(carol), []string{"Authorization", "Basic " + basic("alice", "a-pass")}, "alice"},
		{"certificate and wrong password", client(carol), []string{"Authorization", "Basic " + basic("alice", "b-pass")}, "-"},
	} {
		req := newRequest(t, "POST", base+"/query", "tcp", c.header...)
		resp, err := c.client.Do(req)
		switch {
		case c.user == "":
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s: %d, want a refused handshake", c.name, resp.StatusCode)
			}
			continue
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		io.Copy(io.Discard, resp.Body) // to the trailers
		resp.Body.Close()
		if c.user == "-" {
			if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: %d, want 401 with a challenge", c.name, resp.StatusCode)
			}
			continue
		}
		if resp.StatusCode != 200 || resp.Trailer.Get(serve.StatusTrailer) != serve.Complete {
			t.Errorf("%s: %d", c.name, resp.StatusCode)
		}
		// The line is logged as the handler returns, after the answer.
		for deadline := time.Now().Add(5 * time.Second); jsonLogField(p.logs.String(), "request", "user") != c.user && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if u := jsonLogField(p.logs.String(), "request", "user"); u != c.user {
			t.Errorf("%s: logged as %q, want %q", c.name, u, c.user)
		}
	}

	// pcapstore query -server over HTTPS with a client certificate, and
	// with a token file; without a certificate it fails.
	local, _, _ := pcapQuery(t, "expr", "udp", st, "-o", "-")
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("robot-token\n"), 0o600)
	for _, extra := range [][]string{
		{"-cert", carol, "-key", strings.TrimSuffix(carol, ".crt") + ".key"},
		{"-cert", carol, "-key", strings.TrimSuffix(carol, ".crt") + ".key", "-token-file", tokenFile},
	} {
		out, stderr, code := pcapQuery(t, append([]string{"expr", "udp", "-server", base, "-ca", k.ca, "-o", "-"}, extra...)...)
		if code != 0 || string(out) != string(local) {
			t.Errorf("-server %v: exit %d, %d bytes (local %d): %s", extra, code, len(out), len(local), stderr)
		}
	}
	if _, stderr, code := pcapQuery(t, "expr", "udp", "-server", base, "-ca", k.ca, "-o", "-"); code != 1 || !strings.Contains(stderr, "certificate") {
		t.Errorf("-server without a certificate: exit %d: %s", code, stderr)
	}

	// Plain HTTP with passwords only: Basic is challenged, then taken.
	_, plain := startServe(t, "-jobs-dir", t.TempDir(), "-htpasswd", htpasswd(t, "alice", "a-pass"), st)
	if a := ask(t, nil, newRequest(t, "POST", plain+"/query", "tcp")); a.code != 401 {
		t.Errorf("no credentials: %d", a.code)
	}
	t.Setenv("PCAPSTORE_PASSWORD", "a-pass")
	if out, stderr, code := pcapQuery(t, "expr", "udp", "-server", plain, "-user", "alice", "-o", "-"); code != 0 || string(out) != string(local) {
		t.Errorf("-server -user: exit %d: %s", code, stderr)
	}

	// Refused at start-up: a non-loopback address without credentials.
	refused := &sinkProc{t: t, args: []string{"serve", "-listen", "0.0.0.0:0", "-jobs-dir", t.TempDir(), st}}
	refused.start()
	deadline := time.Now().Add(10 * time.Second)
	for refused.running() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if refused.running() || !strings.Contains(refused.logs.String(), "-no-auth") {
		refused.kill()
		t.Errorf("0.0.0.0 without credentials was not refused: %s", refused.logs.String())
	}
}

func basic(user, pass string) string {
	return strings.TrimPrefix(func() string {
		r, _ := http.NewRequest("GET", "http://x", nil)
		r.SetBasicAuth(user, pass)
		return r.Header.Get("Authorization")
	}(), "Basic ")
}
