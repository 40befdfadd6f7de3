package config

// Compatibility with Apache Metron's fastcapa (apache/metron,
// metron-sensors/fastcapa): its command line,
//
//	fastcapa [EAL options] -- -p PORT_MASK -b RX_BURST -w TX_BURST -d NB_RX_DESC
//	         -x TX_RING_SIZE -q NB_RX_QUEUE -t TOPIC -c KAFKA_CONF -s STATS_FILE -h
//
// and its Kafka configuration file, a GLib key file with [kafka-global]
// and [kafka-topic] groups. A site that ran fastcapa swaps the binary and
// keeps its service file; MetronArgs.Config turns that command line into
// a Config.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// MetronArgs is a fastcapa command line: the EAL options before "--", and
// fastcapa's own options after it.
type MetronArgs struct {
	EAL       []string // everything before "--", verbatim
	PortMask  uint64   // -p: bit n captures DPDK port n
	RxBurst   int      // -b: packets per rte_eth_rx_burst
	TxBurst   int      // -w: packets a transmit worker takes from its ring at once
	RxDesc    int      // -d: descriptors in each RX queue
	RingSize  int      // -x: entries in each ring between RX and transmit workers
	RxQueues  int      // -q: RX queues on each port, so RX workers
	Topic     string   // -t
	KafkaConf string   // -c: the .ini file
	StatsFile string   // -s: librdkafka's JSON statistics are appended to it
	Help      bool     // -h
}

// metronDefaults are fastcapa's: src/args.h, DEFAULT_*.
func metronDefaults() MetronArgs {
	return MetronArgs{
		PortMask: 0x01,
		RxBurst:  32,
		TxBurst:  256,
		RxDesc:   1024,
		RingSize: 2048,
		RxQueues: 1,
		Topic:    "pcap",
	}
}

// MetronUsage is the help for fastcapa's options, in the shape of the
// original's -h.
const MetronUsage = `fastcapa [EAL options] -- [APP options]
  -p PORT_MASK        hexadecimal bitmask of the DPDK ports to capture [0x01]
  -b RX_BURST_SIZE    packets a receive worker fetches at once         [32]
  -w TX_BURST_SIZE    packets a transmit worker sends at once          [256]
  -d NB_RX_DESC       descriptors in each receive queue                [1024]
  -x TX_RING_SIZE     size of each transmit ring (a power of 2)        [2048]
  -q NB_RX_QUEUE      receive queues on each port                      [1]
  -t KAFKA_TOPIC      Kafka topic                                      [pcap]
  -c KAFKA_CONF       Kafka configuration file ([kafka-global] must set
                      metadata.broker.list)
  -s KAFKA_STATS      append librdkafka's JSON statistics to this file
                      (statistics.interval.ms sets how often)
  -h                  print this help message
`

// IsMetronArgs reports whether a command line (without the program name)
// has fastcapa's shape: EAL options, a standalone "--", fastcapa options.
func IsMetronArgs(args []string) bool {
	return slices.Contains(args, "--")
}

// ParseMetronArgs splits a fastcapa command line (without the program
// name) at the first "--" and parses the options after it as fastcapa's
// getopt did: "-p 0x01" or "-p0x01", the last of a repeated option wins,
// and -h ends the parse. It checks what fastcapa checked, strictly: an
// unknown option, a missing value, a value that is not a whole number, a
// port mask that is not hexadecimal or names no port, a ring size that is
// not a power of two. Without "--" every argument is an EAL option and
// fastcapa's options keep their defaults.
func ParseMetronArgs(args []string) (MetronArgs, error) {
	m := metronDefaults()
	sep := slices.Index(args, "--")
	if sep < 0 {
		m.EAL = slices.Clone(args)
		return m, nil
	}
	m.EAL = slices.Clone(args[:sep])
	app := args[sep+1:]
	for i := 0; i < len(app); i++ {
		tok := app[i]
		if tok == "--" || len(tok) < 2 || tok[0] != '-' {
			return m, fmt.Errorf("unexpected argument %q after --: fastcapa takes only its options there (-h lists them)", tok)
		}
		if tok[1] == '-' {
			return m, fmt.Errorf("unknown option %s: fastcapa has no long options (-h lists them)", tok)
		}
		// getopt: flags may share a dash ("-h..."); an option that takes
		// a value takes the rest of the word, or else the next word.
		for j := 1; j < len(tok); j++ {
			opt := tok[j]
			if opt == 'h' {
				m.Help = true
				return m, nil
			}
			if !strings.ContainsRune("bcdpqstwx", rune(opt)) {
				return m, fmt.Errorf("unknown option -%c (-h lists them)", opt)
			}
			val := tok[j+1:]
			if val == "" {
				if i+1 >= len(app) {
					return m, fmt.Errorf("-%c: missing its value", opt)
				}
				i++
				val = app[i]
			}
			if err := m.set(opt, val); err != nil {
				return m, err
			}
			break
		}
	}
	return m, nil
}

// set parses one option's value.
func (m *MetronArgs) set(opt byte, val string) error {
	// num parses a decimal from lo to hi.
	num := func(dst *int, lo, hi int) error {
		n, err := strconv.Atoi(val)
		if err != nil {
			return fmt.Errorf("-%c %q: not a whole number", opt, val)
		}
		if n < lo || n > hi {
			return fmt.Errorf("-%c %d: use %d to %d", opt, n, lo, hi)
		}
		*dst = n
		return nil
	}
	// path takes a value that must not be empty.
	path := func(dst *string) error {
		if val == "" {
			return fmt.Errorf("-%c: empty", opt)
		}
		*dst = val
		return nil
	}
	switch opt {
	case 'p':
		mask, err := parsePortMask(val)
		if err != nil {
			return fmt.Errorf("-p %q: %w", val, err)
		}
		m.PortMask = mask
		return nil
	case 'b':
		return num(&m.RxBurst, 1, 1024) // fastcapa's MAX_RX_BURST_SIZE
	case 'w':
		return num(&m.TxBurst, 1, 1<<31-1)
	case 'd':
		return num(&m.RxDesc, 1, 65535) // a uint16_t in fastcapa and DPDK
	case 'q':
		return num(&m.RxQueues, 1, 65535)
	case 'x':
		if err := num(&m.RingSize, 1, 1<<31); err != nil {
			return err
		}
		if m.RingSize&(m.RingSize-1) != 0 {
			return fmt.Errorf("-x %d: not a power of two, which a DPDK ring's size must be: use e.g. 2048 or 4096", m.RingSize)
		}
		return nil
	case 't':
		return path(&m.Topic)
	case 'c':
		return path(&m.KafkaConf)
	case 's':
		return path(&m.StatsFile)
	}
	return fmt.Errorf("unknown option -%c", opt)
}

// parsePortMask parses a hexadecimal mask, with or without 0x, that names
// at least one port.
func parsePortMask(s string) (uint64, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if h == "" || strings.ContainsAny(h, "+-") {
		return 0, errors.New("not a hexadecimal port mask: use e.g. 0x01 for port 0, 0x03 for ports 0 and 1")
	}
	mask, err := strconv.ParseUint(h, 16, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, errors.New("more than 64 bits: ports 0 to 63 only")
		}
		return 0, errors.New("not a hexadecimal port mask: use e.g. 0x01 for port 0, 0x03 for ports 0 and 1")
	}
	if mask == 0 {
		return 0, errors.New("names no port: set a bit for each port, e.g. 0x01 for port 0")
	}
	return mask, nil
}

// Kafka configuration file groups: fastcapa handed [kafka-global] to
// rd_kafka_conf_set and [kafka-topic] to rd_kafka_topic_conf_set.
const (
	metronGlobalGroup = "kafka-global"
	metronTopicGroup  = "kafka-topic"
)

// LoadKafkaINI reads fastcapa's Kafka configuration file: "key = value"
// lines under [kafka-global] and [kafka-topic] headers, blank lines, and
// comment lines starting with '#' or ';'. Keys and values are trimmed of
// surrounding blanks; the value is the rest of the line, taken as written
// ('#' after a value is part of it, as in GLib). The properties of both
// groups come back in one map, since librdkafka takes topic properties in
// its global configuration as the default topic's. A group may appear
// more than once. Errors name the file and line: a key set twice (in one
// group or both), a group other than those two, a property before any
// group, a line that is neither a header nor "key = value", an empty key.
func LoadKafkaINI(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")) // a UTF-8 BOM
	type origin struct {
		group string
		line  int
	}
	props := map[string]string{}
	seen := map[string]origin{}
	group := ""
	for i, line := range strings.Split(string(raw), "\n") {
		n := i + 1
		line = strings.TrimSpace(line) // and a CR before the LF
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", path, n, fmt.Sprintf(format, a...))
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") || strings.Count(line, "[") != 1 || strings.Count(line, "]") != 1 {
				return nil, bad("%q is not a group header: write [%s] or [%s] alone on the line",
					line, metronGlobalGroup, metronTopicGroup)
			}
			name := line[1 : len(line)-1]
			if name != metronGlobalGroup && name != metronTopicGroup {
				return nil, bad("unknown group [%s]: use [%s] or [%s]", name, metronGlobalGroup, metronTopicGroup)
			}
			group = name
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, bad("%q is not \"key = value\", a [group] or a comment", line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case k == "":
			return nil, bad("%q has no key before '='", line)
		case strings.ContainsAny(k, " \t"):
			return nil, bad("key %q has a blank in it: librdkafka property names have none", k)
		case group == "":
			return nil, bad("%s is outside any group: put it under [%s] or [%s]", k, metronGlobalGroup, metronTopicGroup)
		}
		if o, dup := seen[k]; dup {
			if o.group == group {
				return nil, bad("%s is set twice in [%s] (first on line %d): keep one", k, group, o.line)
			}
			return nil, bad("%s is set in both [%s] (line %d) and [%s]: librdkafka takes both groups as one configuration, keep one",
				k, o.group, o.line, group)
		}
		seen[k] = origin{group, n}
		props[k] = v
	}
	return props, nil
}

// Kafka broker list properties: librdkafka takes metadata.broker.list,
// fastcapa's, as an alias of bootstrap.servers.
const (
	propBootstrap  = "bootstrap.servers"
	propBrokerList = "metadata.broker.list"
)

// metronFilePrefix is DPDK's own default --file-prefix, which fastcapa
// ran with: its hugepage files are rtemap_*.
const metronFilePrefix = "rte"

// Config builds the daemon's configuration from a fastcapa command line,
// validated, or returns one error that names the option at fault:
//
//   - EAL options go to eal.args, except those now spelled differently
//     or that eal.* already emits: -l, -c (a coremask, turned into a
//     list) and --lcores become eal.lcores, or, given none, the CPUs this
//     process may run on (DPDK's default); --main-lcore and the older
//     --master-lcore become eal.main_lcore; --file-prefix becomes
//     eal.file_prefix, else DPDK's default "rte"; -w and --pci-whitelist
//     become -a, --pci-blacklist becomes -b.
//
//   - -p: one port per set bit, named by its DPDK port id ("0", "1", ...),
//     each with -q RX queues of -d descriptors.
//
//   - -q: as in fastcapa, the first -q worker lcores receive (fewer if
//     there are fewer), and the remaining worker lcores, shared out over
//     the rings, set capture.workers_per_ring (at least 1).
//
//   - -b is capture.burst, -x capture.ring_size; capture.mbufs is raised,
//     if need be, until every ring can fill.
//
//   - -t is kafka.topic, keys are in microseconds (kafka.key_unit us), and
//     kafka.properties are the -c file's, which is required and must give
//     the broker list (metadata.broker.list, stored as bootstrap.servers).
//
//   - -w is capture.worker_burst, -s kafka.stats_file.
func (m MetronArgs) Config() (Config, error) {
	c := Defaults()
	c.EAL.FilePrefix = metronFilePrefix
	if err := m.eal(&c.EAL); err != nil {
		return Config{}, err
	}
	lcores, err := ParseLcores(c.EAL.Lcores)
	if err != nil {
		return Config{}, fmt.Errorf("EAL options: lcores %q: %w", c.EAL.Lcores, err)
	}
	mainLcore := lcores[0]
	if c.EAL.MainLcore != nil {
		mainLcore = *c.EAL.MainLcore
	}
	workers := slices.DeleteFunc(slices.Clone(lcores), func(l int) bool { return l == mainLcore })
	if len(workers) == 0 {
		return Config{}, fmt.Errorf("EAL options: lcores %q leave no lcore besides the main one %d: "+
			"give at least two, e.g. -l 0-%d (one main, one receive worker per -q queue)", c.EAL.Lcores, mainLcore, m.RxQueues)
	}
	// Port defaults would quietly replace a zero, which ParseMetronArgs
	// never gives.
	if m.RxQueues < 1 || m.RxDesc < 1 {
		return Config{}, fmt.Errorf("-q %d, -d %d: use 1 or more", m.RxQueues, m.RxDesc)
	}
	rx := min(m.RxQueues, len(workers))
	c.Capture.RxLcores = workers[:rx]
	c.Capture.WorkersPerRing = min(max((len(workers)-rx)/rx, 1), 64)

	if m.PortMask == 0 {
		return Config{}, errors.New("-p 0x0: names no port: set a bit for each port, e.g. 0x01 for port 0")
	}
	for id := 0; id < 64; id++ {
		if m.PortMask&(1<<id) != 0 {
			c.Ports = append(c.Ports, Port{Name: strconv.Itoa(id), RxQueues: m.RxQueues, RxDescriptors: m.RxDesc,
				Optional: true})
		}
	}
	c.Capture.Burst = m.RxBurst
	c.Capture.WorkerBurst = m.TxBurst
	c.Capture.RingSize = m.RingSize
	c.Kafka.StatsFile = m.StatsFile

	c.Kafka.Topic = m.Topic
	c.Kafka.KeyUnit = "us"
	if m.KafkaConf == "" {
		return Config{}, errors.New("-c KAFKA_CONF: not given: name the Kafka configuration file, " +
			"whose [kafka-global] sets metadata.broker.list")
	}
	props, err := LoadKafkaINI(m.KafkaConf)
	if err != nil {
		return Config{}, fmt.Errorf("-c: %w", err)
	}
	if err := brokerList(props); err != nil {
		return Config{}, fmt.Errorf("-c %s: %w", m.KafkaConf, err)
	}
	c.Kafka.Properties = props

	if need := c.mbufsNeeded(len(lcores)); need > c.Capture.Mbufs {
		if need&(need+1) == 0 {
			need++ // not 2^n-1: see Defaults
		}
		c.Capture.Mbufs = need
	}
	if err := c.Validate(); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			if opt := metronOption(fe.Field, m); opt != "" {
				return Config{}, fmt.Errorf("%s: %w", opt, err)
			}
		}
		return Config{}, err
	}
	return c, nil
}

// brokerList makes bootstrap.servers the one broker list property, as
// Validate and the daemon read it.
func brokerList(props map[string]string) error {
	mbl, hasMBL := props[propBrokerList]
	bs, hasBS := props[propBootstrap]
	switch {
	case hasMBL && hasBS && strings.TrimSpace(mbl) != strings.TrimSpace(bs):
		return fmt.Errorf("%s %q and %s %q differ: they are the same librdkafka property, keep one",
			propBrokerList, mbl, propBootstrap, bs)
	case hasMBL:
		delete(props, propBrokerList)
		props[propBootstrap] = mbl
	}
	if strings.TrimSpace(props[propBootstrap]) == "" {
		return fmt.Errorf("no broker: set %s (or %s) under [%s], e.g. %s = kafka1:9092,kafka2:9092",
			propBrokerList, propBootstrap, metronGlobalGroup, propBrokerList)
	}
	return nil
}

// metronOption is the fastcapa option that set a Config field, to name it
// in an error.
func metronOption(field string, m MetronArgs) string {
	switch {
	case strings.HasPrefix(field, "eal."):
		return "EAL options"
	case strings.HasPrefix(field, "ports") && strings.HasSuffix(field, ".rx_queues"):
		return "-q"
	case strings.HasPrefix(field, "ports") && strings.HasSuffix(field, ".rx_descriptors"):
		return "-d"
	case strings.HasPrefix(field, "ports"):
		return "-p"
	case field == "capture.burst":
		return "-b"
	case field == "capture.worker_burst":
		return "-w"
	case field == "capture.ring_size":
		return "-x"
	case field == "capture.mbufs":
		return "-x, -q and -d"
	case field == "kafka.topic":
		return "-t"
	case strings.HasPrefix(field, "kafka.properties"):
		return "-c " + m.KafkaConf
	}
	return ""
}

// eal moves the EAL options into e: see Config.
func (m MetronArgs) eal(e *EAL) error {
	var out []string
	lcoreOpt := ""
	for i := 0; i < len(m.EAL); i++ {
		a := m.EAL[i]
		name, val, ok := ealOption(a)
		if !ok {
			out = append(out, a)
			continue
		}
		if val == "" {
			if i+1 >= len(m.EAL) {
				return fmt.Errorf("EAL options: %s: missing its value", name)
			}
			i++
			val = m.EAL[i]
		}
		switch name {
		case "-l", "-c", "--lcores":
			if lcoreOpt != "" {
				return fmt.Errorf("EAL options: %s and %s both give the lcores, which DPDK refuses: keep one", lcoreOpt, name)
			}
			lcoreOpt = name
			if name == "-c" {
				list, err := coremaskLcores(val)
				if err != nil {
					return fmt.Errorf("EAL options: -c %q: %w", val, err)
				}
				val = list
			}
			e.Lcores = val
		case "--main-lcore", "--master-lcore":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return fmt.Errorf("EAL options: %s %q: not an lcore number", name, val)
			}
			e.MainLcore = &n
		case "--file-prefix":
			e.FilePrefix = val
		case "-w", "--pci-whitelist":
			out = append(out, "-a", val)
		case "--pci-blacklist":
			out = append(out, "-b", val)
		}
	}
	if lcoreOpt == "" {
		cpus, err := allowedCPUs()
		if err != nil {
			return fmt.Errorf("EAL options give no lcores (-l, -c or --lcores), and the CPUs this process may use, "+
				"DPDK's default, are unknown: %w", err)
		}
		e.Lcores = formatLcores(cpus)
	}
	e.Args = out
	return nil
}

// ealOption recognises the EAL options that eal moves or renames, with
// their value if attached ("-l0-3", "--lcores=0-3").
func ealOption(a string) (name, val string, ok bool) {
	if strings.HasPrefix(a, "--") {
		name, val, _ = strings.Cut(a, "=")
		switch name {
		case "--lcores", "--main-lcore", "--master-lcore", "--file-prefix", "--pci-whitelist", "--pci-blacklist":
			return name, val, true
		}
		return "", "", false
	}
	if len(a) >= 2 && a[0] == '-' && strings.IndexByte("lcw", a[1]) >= 0 {
		return a[:2], a[2:], true
	}
	return "", "", false
}

// coremaskLcores turns an EAL coremask (hexadecimal, with or without 0x,
// bit n for lcore n) into an lcore list.
func coremaskLcores(s string) (string, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	if h == "" {
		return "", errors.New("not a hexadecimal coremask")
	}
	var ids []int
	for i := len(h) - 1; i >= 0; i-- {
		d, err := strconv.ParseUint(h[i:i+1], 16, 8)
		if err != nil {
			return "", errors.New("not a hexadecimal coremask")
		}
		for b := 0; b < 4; b++ {
			if d&(1<<b) != 0 {
				ids = append(ids, (len(h)-1-i)*4+b)
			}
		}
	}
	if len(ids) == 0 {
		return "", errors.New("names no lcore")
	}
	return formatLcores(ids), nil
}

// formatLcores writes ascending lcore ids as a list with ranges: "0-3,5".
func formatLcores(ids []int) string {
	var b strings.Builder
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(ids[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(ids[j]))
		}
		i = j + 1
	}
	return b.String()
}

// allowedCPUs returns the CPUs this process may run on below MaxLcore:
// the lcores DPDK takes when given none. A variable for tests.
var allowedCPUs = func() ([]int, error) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		list, ok := strings.CutPrefix(line, "Cpus_allowed_list:")
		if !ok {
			continue
		}
		var cpus []int
		for _, part := range strings.Split(strings.TrimSpace(list), ",") {
			lo, hi, isRange := strings.Cut(part, "-")
			if !isRange {
				hi = lo
			}
			a, errA := strconv.Atoi(lo)
			b, errB := strconv.Atoi(hi)
			if errA != nil || errB != nil {
				return nil, fmt.Errorf("/proc/self/status: Cpus_allowed_list %q", list)
			}
			for cpu := a; cpu <= b && cpu < MaxLcore; cpu++ {
				cpus = append(cpus, cpu)
			}
		}
		if len(cpus) == 0 {
			return nil, fmt.Errorf("no CPU below %d in Cpus_allowed_list %q", MaxLcore, strings.TrimSpace(list))
		}
		return cpus, nil
	}
	return nil, errors.New("/proc/self/status has no Cpus_allowed_list")
}
