package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"
)

// runTTFB measures how long an answer takes to start and to end: the
// first byte and the last of a command's stdout (-- CMD ARGS...), or of
// a streaming query's body (-url, POSTing -q), from -clients clients at
// once. It prints one line:
//
//	clients=8 ttfb_median_s=... ttfb_max_s=... total_median_s=... total_max_s=... bytes=... status=complete
//
// bytes is one answer's size (every answer must be as long); status is
// the Pcapstore-Status trailer (command: its exit status).
func runTTFB(args []string) int {
	fs := flag.NewFlagSet("fcbench ttfb", flag.ContinueOnError)
	url := fs.String("url", "", "POST -q to this URL (pcapstore serve's /query); else run the command after --")
	q := fs.String("q", "", "the query, the POST's body")
	clients := fs.Int("clients", 1, "answers asked at once")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *url == "" && fs.NArg() == 0 || *clients < 1 {
		fmt.Fprintln(os.Stderr, "fcbench ttfb: give -url URL -q QUERY, or -- COMMAND ARGS...; -clients ≥ 1")
		return 2
	}
	type answer struct {
		ttfb, total time.Duration
		bytes       int64
		status      string
		err         error
	}
	answers := make([]answer, *clients)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := &answers[i]
			began := time.Now()
			var body io.Reader
			var finish func() (string, error)
			if *url != "" {
				resp, err := http.Post(*url, "text/plain", strings.NewReader(*q))
				if err != nil {
					a.err = err
					return
				}
				defer resp.Body.Close()
				if resp.StatusCode != 200 {
					msg, _ := io.ReadAll(resp.Body)
					a.err = fmt.Errorf("%s: %s", resp.Status, msg)
					return
				}
				body = resp.Body
				finish = func() (string, error) { return resp.Trailer.Get("Pcapstore-Status"), nil }
			} else {
				cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
				out, err := cmd.StdoutPipe()
				if err != nil {
					a.err = err
					return
				}
				if err := cmd.Start(); err != nil {
					a.err = err
					return
				}
				body = out
				finish = func() (string, error) {
					err := cmd.Wait()
					return fmt.Sprintf("exit%d", cmd.ProcessState.ExitCode()), err
				}
			}
			var one [1]byte
			n, err := io.ReadFull(body, one[:])
			if err != nil {
				a.err = err
				return
			}
			a.ttfb = time.Since(began)
			rest, err := io.Copy(io.Discard, body)
			a.bytes = int64(n) + rest
			if err == nil {
				a.status, err = finish()
			}
			a.total, a.err = time.Since(began), err
		}()
	}
	wg.Wait()
	var ttfb, total []float64
	for _, a := range answers {
		if a.err != nil {
			fmt.Fprintf(os.Stderr, "fcbench ttfb: %v\n", a.err)
			return 1
		}
		if a.bytes != answers[0].bytes || a.status != answers[0].status {
			fmt.Fprintf(os.Stderr, "fcbench ttfb: answers differ: %d bytes %s, %d bytes %s\n", a.bytes, a.status, answers[0].bytes, answers[0].status)
			return 1
		}
		ttfb, total = append(ttfb, a.ttfb.Seconds()), append(total, a.total.Seconds())
	}
	slices.Sort(ttfb)
	slices.Sort(total)
	fmt.Printf("clients=%d ttfb_median_s=%.4f ttfb_max_s=%.4f total_median_s=%.3f total_max_s=%.3f bytes=%d status=%s\n",
		*clients, ttfb[len(ttfb)/2], ttfb[len(ttfb)-1], total[len(total)/2], total[len(total)-1], answers[0].bytes, answers[0].status)
	return 0
}
