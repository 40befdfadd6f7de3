package records_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/query"
	"github.com/fastcapa-go/fastcapa/records"
)

// TestRunFilesHostile: over a directory holding a good capture, one cut
// in the middle of a record, garbage named like a capture, a file that
// is no capture, an empty file and a file the sink is still writing,
// RunFiles writes every record it can read, names the cut and the
// garbage captures as failed, skips the rest, and reads no file being
// written.
func TestRunFilesHostile(t *testing.T) {
	recs := pcaptest.ReadAll(t, filepath.Join(testenv.Pcaps(t), "metron-example.pcap"))
	in := t.TempDir()
	good := pcaptest.WriteCapture(t, filepath.Join(in, "good.pcap"), pcaptest.File{}, recs[:300])
	cut := filepath.Join(in, "cut.pcap")
	pcaptest.WriteCapture(t, cut, pcaptest.File{}, recs[300:400])
	b, _ := os.ReadFile(cut)
	os.WriteFile(cut, b[:len(b)-10], 0o644) // within the last record
	os.WriteFile(filepath.Join(in, "garbage.pcap"), []byte("this is not a capture at all, not even close"), 0o644)
	os.WriteFile(filepath.Join(in, "notes.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(in, "empty.pcap"), nil, 0o644)
	pcaptest.WriteCapture(t, filepath.Join(in, ".x.pcap.0001.inprogress"), pcaptest.File{}, recs[400:])

	out := filepath.Join(in, "records") // inside the input: excluded
	res, err := records.RunFiles(context.Background(), records.FilesSpec{
		Paths: []string{in}, Exclude: []string{out},
		Writer: records.WriterSpec{Dir: out, Packets: true, Flows: true, Stem: "t"},
	})
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]bool{}
	for _, f := range res.Failed {
		failed[filepath.Base(f.Path)] = true
	}
	skipped := map[string]string{}
	for _, s := range res.Skipped {
		skipped[filepath.Base(s.Path)] = s.Reason
	}
	// The cut capture's 99 whole records are kept; the file being
	// written is not read.
	if want := int64(len(good) + 99); res.Packets != want {
		t.Errorf("%d packets, want %d", res.Packets, want)
	}
	if !failed["cut.pcap"] || !failed["garbage.pcap"] || len(res.Failed) != 3 || !failed["empty.pcap"] {
		t.Errorf("failed %v", res.Failed)
	}
	if skipped["notes.txt"] != query.SkipNotCapture || skipped[".x.pcap.0001.inprogress"] != query.SkipHidden {
		t.Errorf("skipped %v", skipped)
	}
	if res.Files != 1 || res.Written != 2 {
		t.Errorf("%d captures read whole, %d files written", res.Files, res.Written)
	}
	// Run again: the state says every capture was read, those failed
	// too; a file of the same name in another run's output is never
	// written over.
	res2, err := records.RunFiles(context.Background(), records.FilesSpec{
		Paths: []string{in}, Exclude: []string{out},
		Writer: records.WriterSpec{Dir: out, Packets: true, Stem: "u"},
	})
	if err != nil || res2.Packets != 0 || res2.Written != 0 || res2.Done != 4 {
		t.Fatalf("second run: %+v, %v", res2, err)
	}
}
