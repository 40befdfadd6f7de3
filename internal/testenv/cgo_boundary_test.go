package testenv

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cgoBoundaries are the only folders whose Go files may import "C": dpdk/
// for DPDK, filter/internal/libpcap for libpcap's filter compiler,
// kafka/internal/rdk for the librdkafka confluent-kafka-go bundles.
var cgoBoundaries = map[string]bool{"dpdk": true, filepath.Join("filter", "internal", "libpcap"): true,
	filepath.Join("kafka", "internal", "rdk"): true}

// TestOnlyDPDKImportsC keeps each C boundary in one folder: no Go file
// outside cgoBoundaries imports "C".
func TestOnlyDPDKImportsC(t *testing.T) {
	root := Root()
	var offenders []string
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") || cgoBoundaries[rel] || d.Name() == "bin" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if strings.TrimSpace(s.Text()) == `import "C"` {
				offenders = append(offenders, rel)
				break
			}
		}
		return nil
	})
	if len(offenders) > 0 {
		t.Errorf("cgo outside dpdk/, filter/internal/libpcap and kafka/internal/rdk: %v", offenders)
	}
}
