package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastcapa-go/fastcapa/internal/cliflag"
	"github.com/fastcapa-go/fastcapa/query"
)

const queryUsage = `usage:
  pcapstore query fixed [options] [PATH...]
      Metron's fixed query: -sa -da -sp -dp -p -ir (unset fields match anything)
  pcapstore query expr [options] EXPRESSION [PATH...]
      a tcpdump filter expression ('' for every packet)

Searches the capture files under each PATH (and -bp PATH) — pcap, pcapng,
plain or .gz/.zst/.lz4 — and writes the packets found as one nanosecond
pcap in time order (mergecap's order), or pages of -rpf packets.

fixed query (Metron's pcap_query fixed; long names work with - or --):
  -sa, -ip_src_addr ADDR    source IPv4 or IPv6 address
  -da, -ip_dst_addr ADDR    destination address
  -sp, -ip_src_port PORT    source port (TCP or UDP)
  -dp, -ip_dst_port PORT    destination port (TCP or UDP)
  -p,  -protocol PROTO      IP protocol: a number, or tcp udp icmp icmp6 sctp gre esp ah igmp
  -ir, -include_reverse     also the packets with source and destination swapped
  -tunnels                  test every IP header, inside IP-in-IP, GRE, VXLAN, Geneve, GTP-U too
                            (all fields on one header; -vlan is then moot)
  -vlan                     match inside one or two VLAN tags (default true for fixed)
both:
  -bp, -base_path PATH      a capture file or directory to search (repeatable)
  -st, -start_time TIME     packets at or after TIME (epoch ms, or -df)
  -et, -end_time TIME       packets at or before TIME (both ends inclusive, as Metron;
                            unset: open, where Metron needs -st and ends -et at now)
  -df, -date_format FMT     Java SimpleDateFormat for -st/-et, e.g. "yyyy-MM-dd HH:mm:ss Z"
                            (letters y M d H m s S Z X; local time without Z)
  -pf, -packet_filter PAT   Metron's byte pattern the packet must hold as well
  -o PATH                   output: a pcap file, - for stdout, or with -rpf a directory
  -rpf, -records_per_file N pages of N packets in directory -o: page-1.pcap, page-2.pcap, …
  -pre, -prefix P           page names as Metron's command: pcap-data-P+0001.pcap, …
  -max-packets N            stop after N packets
  -max-bytes N              stop before the packets' captured bytes pass N
  -vlan                     (expr) match inside VLAN tags too (default false for expr)
  -workers N                files scanned at once (default: the number of CPUs)
  -no-index                 do not prune files by their sidecar index, nor by FMADIO
                            names ({start}-{end}.pcap) that end before -st
  -nr -ft -yq -bop -ps      Metron's Hadoop options: accepted, no effect
a server's stores instead of local files (pcapstore serve):
  -server URL               ask the pcapstore serve at URL (http://HOST:PORT or https://…);
                            no PATH needed (-bp narrows to one of its stores); not with -rpf
  -token-file FILE          a bearer token (else $PCAPSTORE_TOKEN)
  -user USER                HTTP Basic user; the password is $PCAPSTORE_PASSWORD
  -ca FILE                  CA bundle that verifies the server's certificate
  -cert FILE, -key FILE     a client certificate

Skipped: hidden files (the sink's temporaries), *.jsonl, *.idx, and files that
are clearly not captures (not named .pcap/.pcapng/.cap[.gz|.zst|.lz4|…], not
indexed, not starting like one). Any other file is a capture: one that cannot be
read whole (corrupt, not the compression its name says, cut short) is named and
the answer is incomplete. A progress line shows on a terminal; a summary ends on
stderr. Exit status: 0 done (also when a limit stopped it), 1 the answer is
incomplete (the summary names the captures) or the output failed, 2 bad usage.
`

// queryOpts are pcapstore query's flags.
type queryOpts struct {
	paths                  cliflag.List
	start, end, dateFormat string
	payload                string
	out                    string
	perFile                int
	prefix                 string
	maxPackets, maxBytes   int64
	vlan                   bool
	workers                int
	noIndex                bool
	// a server's
	server, tokenFile, user, ca, cert, key string
	// fixed
	srcAddr, dstAddr, srcPort, dstPort, protocol string
	reverse                                      bool
	tunnels                                      bool
}

// flags defines the options on fs, each under Metron's short and long
// names where Metron has them.
func (o *queryOpts) flags(fs *flag.FlagSet, fixed bool) {
	str := func(p *string, names ...string) {
		for _, n := range names {
			fs.StringVar(p, n, "", "")
		}
	}
	for _, n := range []string{"bp", "base_path"} {
		fs.Var(&o.paths, n, "")
	}
	str(&o.start, "st", "start_time")
	str(&o.end, "et", "end_time")
	str(&o.dateFormat, "df", "date_format")
	str(&o.payload, "pf", "packet_filter")
	str(&o.out, "o")
	str(&o.prefix, "pre", "prefix")
	for _, n := range []string{"rpf", "records_per_file"} {
		fs.IntVar(&o.perFile, n, 0, "")
	}
	fs.Int64Var(&o.maxPackets, "max-packets", 0, "")
	fs.Int64Var(&o.maxBytes, "max-bytes", 0, "")
	fs.BoolVar(&o.vlan, "vlan", fixed, "")
	fs.IntVar(&o.workers, "workers", 0, "")
	fs.BoolVar(&o.noIndex, "no-index", false, "")
	str(&o.server, "server")
	str(&o.tokenFile, "token-file")
	str(&o.user, "user")
	str(&o.ca, "ca")
	str(&o.cert, "cert")
	str(&o.key, "key")
	var ignored string
	for _, n := range []string{"nr", "num_reducers", "ft", "finalizer_threads", "yq", "yarn_queue", "bop", "base_output_path"} {
		fs.StringVar(&ignored, n, "", "")
	}
	var ignoredBool bool
	fs.BoolVar(&ignoredBool, "ps", false, "")
	fs.BoolVar(&ignoredBool, "print_status", false, "")
	if fixed {
		str(&o.srcAddr, "sa", "ip_src_addr")
		str(&o.dstAddr, "da", "ip_dst_addr")
		str(&o.srcPort, "sp", "ip_src_port")
		str(&o.dstPort, "dp", "ip_dst_port")
		str(&o.protocol, "p", "protocol")
		fs.BoolVar(&o.reverse, "ir", false, "")
		fs.BoolVar(&o.reverse, "include_reverse", false, "")
		fs.BoolVar(&o.tunnels, "tunnels", false, "")
	}
}

// usageError is a command line that cannot run: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

func runQuery(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, queryUsage)
		return 2
	}
	kind := args[0]
	switch kind {
	case "fixed", "expr":
	case "-h", "-help", "--help", "help":
		fmt.Print(queryUsage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "pcapstore query: unknown query %q: use fixed or expr\n%s", kind, queryUsage)
		return 2
	}
	fs := flag.NewFlagSet("pcapstore query "+kind, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o queryOpts
	o.flags(fs, kind == "fixed")
	// Options before, between and after the positional arguments.
	var pos []string
	for rest := args[1:]; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Print(queryUsage)
				return 0
			}
			fmt.Fprintf(os.Stderr, "pcapstore query %s: %v (pcapstore query -h for the options)\n", kind, err)
			return 2
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		pos, rest = append(pos, rest[0]), rest[1:]
	}
	if o.server != "" {
		return o.remote(kind, pos)
	}
	spec, out, err := o.build(kind, pos)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pcapstore query %s: %v\n", kind, err)
		var ue *usageError
		if errors.As(err, &ue) || isUsage(err) {
			return 2
		}
		return 1
	}
	return execQuery(spec, out)
}

// isUsage reports whether a query error is about the command line: the
// query's own validation, a filter that does not compile, a path that
// does not exist.
func isUsage(err error) bool {
	return query.IsInvalid(err) || errors.Is(err, fs.ErrNotExist)
}

// build turns the options into a query and an output.
func (o *queryOpts) build(kind string, pos []string) (query.Spec, *output, error) {
	var spec query.Spec
	r, paths, err := o.request(kind, pos)
	if err != nil {
		return spec, nil, err
	}
	if len(paths) == 0 {
		return spec, nil, usagef("name the captures to search: -bp DIR, or paths after the options")
	}
	if spec, err = r.Spec(paths); err != nil {
		return spec, nil, err
	}
	out, err := o.output(spec.Paths)
	if err != nil {
		return spec, nil, err
	}
	if out.path != "" {
		spec.Exclude = []string{out.path}
	}
	return spec, out, nil
}

// request reads the query the options and positional arguments ask for
// (an expression's first positional argument is the expression), and
// the paths to search.
func (o *queryOpts) request(kind string, pos []string) (query.Request, []string, error) {
	r := query.Request{
		MatchVLAN: o.vlan, Pattern: o.payload, Tunnels: o.tunnels, NoIndex: o.noIndex,
		MaxPackets: o.maxPackets, MaxBytes: o.maxBytes, Workers: o.workers,
	}
	if kind == "expr" {
		if len(pos) == 0 {
			return r, nil, usagef("give the filter expression ('' for every packet)")
		}
		r.Expr, pos = pos[0], pos[1:]
	} else {
		r.Fixed = &query.FixedFields{
			SrcAddr: o.srcAddr, DstAddr: o.dstAddr, SrcPort: o.srcPort, DstPort: o.dstPort,
			Protocol: o.protocol, IncludeReverse: o.reverse,
		}
	}
	var err error
	if o.start != "" {
		if r.Start, err = query.ParseTime(o.start, o.dateFormat, time.Local); err != nil {
			return r, nil, err
		}
	}
	if o.end != "" {
		if r.End, err = query.ParseTime(o.end, o.dateFormat, time.Local); err != nil {
			return r, nil, err
		}
	}
	if o.maxPackets < 0 || o.maxBytes < 0 || o.workers < 0 || o.perFile < 0 {
		return r, nil, usagef("-max-packets, -max-bytes, -workers and -rpf take a number ≥ 0")
	}
	return r, append(append([]string(nil), o.paths...), pos...), nil
}

// output is where the packets go (query.Output): one pcap file or
// stdout, or pages in dir.
type output struct {
	*query.Output
	path string   // the file; "" for stdout or pages
	f    *os.File // the file, created before the search
	dir  string   // pages
}

// output checks -o, -rpf and -pre before anything is read, and creates
// the output file (so that a bad path fails before the search). It will
// not overwrite a file among the captures searched.
func (o *queryOpts) output(searched []string) (*output, error) {
	switch {
	case o.out == "":
		return nil, usagef("give -o FILE, -o - for stdout, or -rpf N -o DIR for pages")
	case o.prefix != "" && o.perFile == 0:
		return nil, usagef("-pre names pages: give -rpf N too")
	case o.perFile > 0 && o.out == "-":
		return nil, usagef("pages (-rpf) go to a directory: give -o DIR")
	}
	if o.perFile > 0 {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return nil, usagef("-o %s: %v", o.out, err)
		}
		if first := filepath.Join(o.out, query.PageName(o.prefix, 1)); exists(first) {
			return nil, usagef("%s exists: give another -o DIR, or -pre", first)
		}
		return &output{Output: query.NewPages(o.out, o.perFile, o.prefix), dir: o.out}, nil
	}
	if o.out == "-" {
		if isTerminal(os.Stdout) {
			return nil, usagef("-o -: stdout is a terminal; pipe it (| tshark -r -) or give -o FILE")
		}
		return &output{Output: query.NewOutput(os.Stdout)}, nil
	}
	if fi, err := os.Stat(o.out); err == nil && fi.IsDir() {
		return nil, usagef("-o %s is a directory: give -rpf N to write pages into it, or a file name", o.out)
	} else if err == nil && fi.Mode().IsRegular() {
		for _, p := range searched {
			if within(o.out, p) {
				return nil, usagef("-o %s is among the captures searched (%s): write the output elsewhere", o.out, p)
			}
		}
	}
	f, err := os.Create(o.out)
	if err != nil {
		return nil, usagef("-o: %v", err)
	}
	return &output{Output: query.NewOutput(f), path: o.out, f: f}, nil
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// within reports whether file is root or under it.
func within(file, root string) bool {
	f, err1 := filepath.Abs(file)
	r, err2 := filepath.Abs(root)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(r, f)
	return err == nil && (rel == "." || !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && rel != "..")
}

// finish writes what is buffered (an empty capture when nothing matched,
// to one file or stdout; no page at all) and closes the file.
func (out *output) finish() error {
	err := out.Close()
	if out.f != nil {
		if cerr := out.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// where names the output for the summary.
func (out *output) where() string {
	switch {
	case out.dir != "":
		if len(out.Pages()) == 0 {
			return "no page written"
		}
		return fmt.Sprintf("%d pages in %s", len(out.Pages()), out.dir)
	case out.path != "":
		return out.path
	}
	return "stdout"
}

// isTerminal reports whether f is a terminal: a descriptor the terminal
// ioctl answers on, not any character device (/dev/null is one too).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// execQuery runs the query into the output and reports on stderr.
func execQuery(spec query.Spec, out *output) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	progress := isTerminal(os.Stderr)
	shown := false
	if progress {
		spec.Progress = func(p query.Progress) {
			shown = true
			fmt.Fprintf(os.Stderr, "\r%d/%d files, %s/%s, %d packets matched\x1b[K",
				p.FilesDone, p.Files, size(p.BytesDone), size(p.Bytes), p.Matched)
		}
	}
	began := time.Now()
	st, err := query.RunTo(ctx, spec, out.Output)
	if shown {
		fmt.Fprint(os.Stderr, "\r\x1b[K")
	}
	if errors.Is(err, query.ErrNoCaptures) || isUsage(err) {
		// Nothing was searched: no output, no summary.
		if out.f != nil && out.path != "" {
			out.f.Close()
			os.Remove(out.path)
		}
		fmt.Fprintf(os.Stderr, "pcapstore query: %v%s\n", err, skipNote(st))
		if errors.Is(err, query.ErrNoCaptures) {
			return 1
		}
		return 2
	}
	if ferr := out.finish(); ferr != nil && err == nil {
		err = fmt.Errorf("output: %w", ferr)
	}
	summarize(os.Stderr, st, spec, out, time.Since(began))
	switch {
	case err == nil:
		return 0
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "pcapstore query: interrupted: the output holds the packets found so far")
		return 1
	case errors.Is(err, query.ErrIncomplete):
		fmt.Fprintf(os.Stderr, "pcapstore query: incomplete: %d captures could not be read whole (named above); the other captures were searched\n", len(st.Failed)+len(st.Truncated))
		return 1
	}
	fmt.Fprintf(os.Stderr, "pcapstore query: %v\n", err)
	return 1
}

// skipNote says what was skipped, for the error of a search without
// captures.
func skipNote(st query.Stats) string {
	if len(st.Skipped) == 0 {
		return ""
	}
	return " (skipped: " + skipReasons(st) + ")"
}

// skipReasons counts the skipped files by reason.
func skipReasons(st query.Stats) string {
	var reasons []string
	for r, n := range st.SkipCounts() {
		reasons = append(reasons, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(reasons)
	return strings.Join(reasons, ", ")
}

// summarize writes the one-line summary, then a line per failed, cut
// short or unrecognized file and per note.
func summarize(w io.Writer, st query.Stats, spec query.Spec, out *output, took time.Duration) {
	var parts []string
	parts = append(parts, fmt.Sprintf("%d scanned", st.Scanned))
	if st.Pruned > 0 {
		parts = append(parts, fmt.Sprintf("%d pruned", st.Pruned))
	}
	if st.Unread > 0 {
		parts = append(parts, fmt.Sprintf("%d not read to the end", st.Unread))
	}
	if n := len(st.Failed); n > 0 {
		parts = append(parts, fmt.Sprintf("%d FAILED", n))
	}
	if n := len(st.Truncated); n > 0 {
		parts = append(parts, fmt.Sprintf("%d cut short", n))
	}
	line := fmt.Sprintf("pcapstore query: %d packets (%s) matched of %d read, %d captures (%s)",
		st.Matched, size(st.MatchedBytes), st.Packets, st.Captures, strings.Join(parts, ", "))
	if len(st.Skipped) > 0 {
		line += fmt.Sprintf(", %d files skipped (%s)", len(st.Skipped), skipReasons(st))
	}
	fmt.Fprintf(w, "%s, in %.2f s → %s\n", line, took.Seconds(), out.where())
	for _, f := range st.Failed {
		fmt.Fprintf(w, "pcapstore query: FAILED %s: %v\n", f.Path, f.Err)
	}
	for _, f := range st.Truncated {
		fmt.Fprintf(w, "pcapstore query: CUT SHORT %s: ends in a cut record (still being written, or torn; its records before the cut were searched): %v\n", f.Path, f.Err)
	}
	for _, s := range st.Skipped {
		switch s.Reason {
		case query.SkipNotCapture, query.SkipIrregular:
			fmt.Fprintf(w, "pcapstore query: skipped %s: %s\n", s.Path, s.Reason)
		}
	}
	if st.Limited {
		fmt.Fprintf(w, "pcapstore query: stopped at the limit (-max-packets %d, -max-bytes %d): more packets may match\n", spec.MaxPackets, spec.MaxBytes)
	}
	if st.OutOfOrder > 0 {
		fmt.Fprintf(w, "pcapstore query: note: %d packets are older than the one before them: some captures are not in time order (each keeps its own order, as mergecap merges)\n", st.OutOfOrder)
	}
	if st.OtherLinkType > 0 {
		fmt.Fprintf(w, "pcapstore query: note: %d packets of other link types than Ethernet were not searched\n", st.OtherLinkType)
	}
}

// size is a byte count for people.
func size(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
