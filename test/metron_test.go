package test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// metronEAL are EAL options as a Metron site would write them, for a
// virtual device instead of a NIC.
func metronEAL(t *testing.T, vdev string) []string {
	return []string{"-l", "0,1", "--no-huge", "--no-pci", "-m", "512",
		"--file-prefix", uniquePrefix(t, "fcmetron"), "--vdev", vdev}
}

func writeINI(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fastcapa.conf")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMetronDropIn runs the daemon the way Metron's docs show, with its
// .ini and its options after "--": every packet lands with a key in epoch
// microseconds, and -s gets librdkafka's statistics, one JSON object a
// line.
func TestMetronDropIn(t *testing.T) {
	testenv.RequireRoot(t)
	file, recs := sample(t)
	b := startBroker(t, 0, "pcap", "")
	conf := writeINI(t, fmt.Sprintf(`# fastcapa's Kafka configuration
[kafka-global]
metadata.broker.list = %s
client.id = fastcapa
statistics.interval.ms = 300

[kafka-topic]
request.required.acks = 1
`, b.Addr))
	stats := filepath.Join(t.TempDir(), "stats.json")
	args := append(metronEAL(t, "net_pcap0,rx_pcap="+file),
		"--", "-p", "0x01", "-t", "pcap", "-c", conf, "-s", stats)
	d := startDaemon(t, []string{"FASTCAPA_METRICS_LISTEN=127.0.0.1:0"}, args...)
	if got := waitRecords(t, b.Addr, "pcap", len(recs), 30*time.Second); got < len(recs) {
		t.Fatalf("topic has %d records, want %d", got, len(recs))
	}
	time.Sleep(time.Second) // a few statistics intervals
	if code := d.stop(t); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if !strings.Contains(d.stdout.String(), "received 761 = delivered 761") {
		t.Errorf("final accounting missing:\n%s", d.stdout.String())
	}
	msgs := kcatRead(t, b.Addr, "pcap")
	if len(msgs) != len(recs) {
		t.Fatalf("kcat read %d, want %d", len(msgs), len(recs))
	}
	for i, m := range msgs {
		if want := uint64(recs[i].Timestamp / 1000); binary.BigEndian.Uint64(m.Key) != want || !bytes.Equal(m.Value, recs[i].Data) {
			t.Fatalf("message %d: key %d, want the file's %d µs; or bytes differ", i, binary.BigEndian.Uint64(m.Key), want)
		}
	}

	f, err := os.Open(stats)
	if err != nil {
		t.Fatalf("-s file: %v", err)
	}
	defer f.Close()
	lines := 0
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<22)
	for s.Scan() {
		var v struct {
			Type    string         `json:"type"`
			Brokers map[string]any `json:"brokers"`
		}
		if err := json.Unmarshal(s.Bytes(), &v); err != nil || v.Type != "producer" || len(v.Brokers) == 0 {
			t.Fatalf("-s line %d is not librdkafka producer statistics: %v: %.80s", lines+1, err, s.Text())
		}
		lines++
	}
	if lines < 2 {
		t.Errorf("-s file has %d statistics lines, want several", lines)
	}
}

// TestMetronBadInput: Metron-style mistakes exit 2 with one error line.
func TestMetronBadInput(t *testing.T) {
	testenv.RequireRoot(t)
	file := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	b := startBroker(t, 0, "pcap", "")
	good := writeINI(t, "[kafka-global]\nmetadata.broker.list = "+b.Addr+"\n")
	malformed := writeINI(t, "[kafka-global]\nmetadata.broker.list "+b.Addr+"\n")
	unknown := writeINI(t, "[kafka-global]\nmetadata.broker.list = "+b.Addr+"\nno.such.property = 1\n")
	for _, c := range []struct {
		name string
		app  []string
		want string
	}{
		{"malformed ini", []string{"-p", "0x01", "-c", malformed}, malformed + ":2:"},
		{"unknown property", []string{"-p", "0x01", "-c", unknown}, "No such configuration property"},
		{"mask names no port", []string{"-p", "0x02", "-c", good}, "no port to capture"},
		{"empty mask", []string{"-p", "0x0", "-c", good}, "names no port"},
		{"unknown option", []string{"-p", "0x01", "-c", good, "-z", "1"}, "-z"},
		{"no kafka conf", []string{"-p", "0x01"}, "-c KAFKA_CONF"},
		{"bad key unit", []string{"-p", "0x01", "-c", good}, "kafka.key_unit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			eal := metronEAL(t, "net_pcap0,rx_pcap="+file)
			env := []string{"FASTCAPA_METRICS_LISTEN=127.0.0.1:0"}
			if c.name == "bad key unit" {
				env = append(env, "FASTCAPA_KEY_UNIT=s")
			}
			expectStartupError(t, env, append(append(eal, "--"), c.app...), eal[7], c.want)
		})
	}
	t.Run("help", func(t *testing.T) {
		out, err := exec.Command(filepath.Join(bin, "fastcapa"), "--", "-h").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "-p PORT_MASK") {
			t.Errorf("fastcapa -- -h: %v\n%s", err, out)
		}
	})
}
