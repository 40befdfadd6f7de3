package test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/records"
)

// TestRecordsCrash: `pcapstore records -watch` over a directory the
// shared captures arrive in, batch by batch (each published whole, as
// the sink publishes), killed with SIGKILL at random moments and
// restarted, then stopped with SIGTERM, loses no record and writes none
// twice: its packet records are exactly those of one uninterrupted run
// (each capture's every record once, by source and position), and its
// flow records, summed by Community ID and VLAN over the parts restarts
// cut, carry the same packets and bytes. DuckDB reads both trees.
func TestRecordsCrash(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 14))
	captures := testenv.AllPcaps(t)
	rng.Shuffle(len(captures), func(i, j int) { captures[i], captures[j] = captures[j], captures[i] })
	in, out := t.TempDir(), t.TempDir()
	arrive := func(paths []string) {
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(in, filepath.Base(p))
			if err := os.WriteFile(filepath.Join(in, "."+filepath.Base(p)+".part"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(in, "."+filepath.Base(p)+".part"), dst); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, "pcapstore"), "records", "-out", out, "-watch", "20ms", "-checkpoint", "30ms", in)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Its signal handlers are in place once it says it watches.
		watching := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "watching for captures") {
					close(watching)
				}
				fmt.Fprintln(os.Stderr, sc.Text())
			}
		}()
		select {
		case <-watching:
		case <-time.After(10 * time.Second):
			t.Fatal("pcapstore records did not start")
		}
		return cmd
	}
	batch := (len(captures) + 11) / 12
	kills := 0
	for i := 0; i < len(captures); i += batch {
		cmd := start()
		arrive(captures[i:min(i+batch, len(captures))])
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		kills++
	}
	// The last run reads what is left, then stops cleanly.
	cmd := start()
	deadline := time.Now().Add(time.Minute)
	for !allRead(t, out, len(captures)) {
		if time.Now().After(deadline) {
			t.Fatal("the captures were not all read within a minute")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Logf("last run: %v (failed captures exit 1)", err)
	}

	ref := t.TempDir()
	if _, err := records.RunFiles(context.Background(), records.FilesSpec{Paths: []string{in},
		Writer: records.WriterSpec{Dir: ref, Packets: true, Flows: true, Stem: "ref"}}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, distinct, refN, missing, extra int64
	q := func(query string, dst ...any) {
		t.Helper()
		if err := db.QueryRow(query, out+"/packets/**/*.parquet", ref+"/packets/**/*.parquet").Scan(dst...); err != nil {
			t.Fatal(err)
		}
	}
	q(`SELECT (SELECT count(*) FROM read_parquet($1)), (SELECT count(DISTINCT (source, position)) FROM read_parquet($1)),
		(SELECT count(*) FROM read_parquet($2))`, &n, &distinct, &refN)
	q(`SELECT (SELECT count(*) FROM (SELECT source, position FROM read_parquet($2) EXCEPT SELECT source, position FROM read_parquet($1))),
		(SELECT count(*) FROM (SELECT source, position FROM read_parquet($1) EXCEPT SELECT source, position FROM read_parquet($2)))`, &missing, &extra)
	t.Logf("%d kills; %d packet records (%d distinct), the uninterrupted run %d", kills, n, distinct, refN)
	if n != refN || distinct != n || missing != 0 || extra != 0 {
		t.Errorf("packet records: %d (%d distinct), want %d; %d missing, %d not in the reference", n, distinct, refN, missing, extra)
	}
	var diff, flows int64
	if err := db.QueryRow(`WITH a AS (SELECT community_id, vlan, sum(orig_packets + resp_packets) AS p, sum(orig_bytes + resp_bytes) AS b
			FROM read_parquet($1) GROUP BY ALL),
		r AS (SELECT community_id, vlan, sum(orig_packets + resp_packets) AS p, sum(orig_bytes + resp_bytes) AS b
			FROM read_parquet($2) GROUP BY ALL)
		SELECT (SELECT count(*) FROM (SELECT * FROM a EXCEPT SELECT * FROM r UNION ALL (SELECT * FROM r EXCEPT SELECT * FROM a))),
			(SELECT count(*) FROM r)`, out+"/flows/**/*.parquet", ref+"/flows/**/*.parquet").Scan(&diff, &flows); err != nil {
		t.Fatal(err)
	}
	if diff != 0 || flows < 100 {
		t.Errorf("flows: %d of %d (Community ID, VLAN) differ in packets or bytes from the uninterrupted run", diff, flows)
	}
}

// allRead reports whether the state in out says want captures are read.
func allRead(t *testing.T, out string, want int) bool {
	b, err := os.ReadFile(filepath.Join(out, records.StateName))
	if err != nil {
		return false
	}
	var st struct {
		Done map[string]json.RawMessage `json:"done"`
	}
	return json.Unmarshal(b, &st) == nil && len(st.Done) >= want
}
