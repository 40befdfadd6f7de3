// Package pattern holds the byte patterns of Metron's fixed-filter
// query, `pcap_query fixed --packet_filter` (and Stellar's
// BYTEARRAY_MATCHER), for `pcapstore query`: a pattern keeps a packet
// if it occurs anywhere in the packet's bytes.
//
//	p, err := pattern.Compile("'HTTP/1.' [30 31] 20 '5' \\d\\d")
//	...
//	keep := p.Match(frame)
//
// Compile parses a pattern and builds its matcher; Match searches any
// bytes, allocates nothing, keeps nothing, and is safe from any number
// of goroutines. A refused pattern is an *Error (matching ErrSyntax)
// that names the byte offset and the problem:
//
//	pattern "de ad g": at 6: 'g' is not a hex digit (text goes in quotes: 'GET')
//
// # Which bytes Metron searched
//
// Not the transport payload, though the "Binary Regex" section of
// Metron's pcap README says payload [M1]. Its FixedPcapFilter [M2] runs
// the pattern over the "packet" field, which PcapHelper.packetToFields
// [M3] fills with PacketInfo.getPacketBytes(): all of the value that
// PcapJob's mapper [M4] read from the sequence file. For fastcapa's
// records that value is what the FROM_KEY deserializer [M5] stored
// (PcapHelper.addHeaders [M3]): a one-packet pcap file, a 24-byte file
// header and a 16-byte record header, little-endian on x86, before the
// whole Ethernet frame. AppendMetronRecord rebuilds those bytes; a
// pattern matched over them keeps exactly what Metron kept. Matched
// over the frame alone it differs only where a match would touch the
// first 40 bytes: "d4 c3 b2 a1", the pcap magic, was in every Metron
// packet. Metron's ByteArrayMatchingUtil [M6] compiled the pattern with
// byteseek 2.0.3's SequenceMatcherCompiler [B3] (the version is in
// [M7]) and kept the packet if HorspoolFinalFlagSearcher.searchForwards
// found any match.
//
// # Syntax
//
// The syntax is byteseek's [B1], as its parser reads it [B2]; its
// guide [B8], which Metron's README links, describes the part Metron
// compiled. Where a rule comes from elsewhere it is named.
//
//	de ad be ef     bytes: two hex digits each, any case, spaced or not ("deadbeef");
//	                a byte's digits cannot be split ("de a d" is refused)
//	^00             any byte but 00: '^' right before a byte, one-character
//	                text, range, bitmask, shorthand or set inverts it
//	'GET /'         ASCII text, case-sensitive; no escapes: it ends at the next '
//	`host:`         ASCII text, case-insensitive for letters
//	                (MatcherCompilerUtils.createCaseInsensitiveMatcher [B4])
//	.               any byte
//	30-39 'a'-'z'   a range of bytes, ends written as bytes, one-character 'text'
//	\t-\r           or one-byte shorthands, in either order [B9];
//	^30-39          spaces allowed around '-'; ^ before the first end inverts the range
//	&07             all bitmask: bytes b with b&07 == 07 (&00 matches any byte) [B9]
//	~07             any bitmask: bytes b with b&07 != 0 (~00 matches no byte) [B9]
//	[09 0a 0d 20]   a set: the union of bytes, ranges, text (its bytes), `text`
//	[^ff 'a'-'z']   (its bytes in both cases), bitmasks, shorthands, '.' and
//	^[\d \s]        sets, each maybe inverted on its own (ParseTreeUtils.getSetValues [B5]);
//	                ^ before '[' inverts the whole set ("^[09 20]" is not "[^09 ^20]")
//	\t \n \r \v \f  the bytes 09 0a 0d 0b 0c, and \e: 1e, as byteseek has it
//	\e              (RegexParser.ESCAPE), not ASCII ESC 1b
//	\d \w \s        digits; digits, letters, '_'; 09 0a 0d 20
//	\l \u \i        a-z; A-Z; 00-7f; in capitals (\D \W \S \L \U \I) each inverted
//	(de ad)         a group
//	01 | 02 | 03    alternatives: of single bytes, a set (RegexParser.
//	                optimiseSingleByteAlternatives), as Metron compiled them
//	x{3}            exactly 3 times; x is the one thing before: a byte, a whole
//	                text ('ab'{2} is abab), a set, a group; so dead{2} is de ad ad
//	# comment       to the end of the line; spaces, tabs, CR and LF are ignored
//	                outside text
//
// Metron's SequenceMatcherCompiler [B3] compiled only patterns of one
// fixed length: the forms above. It refused the rest of what the parser
// reads ("Unknown type"), which byteseek's RegexCompiler [B7] compiles
// and this package accepts too:
//
//	'GET' | 'POST'  alternatives of any length
//	x* x+ x?        none or more, one or more, none or one
//	x{2,5} x{2,*}   2 to 5 times; 2 or more times
//
// So every pattern Metron accepted, but the malformed ones listed next,
// compiles here and keeps the same packets (TestMetronCases runs
// Metron's own test cases [M8]), and some it refused compile too.
//
// # Refused, and where this is stricter than byteseek
//
// Refused, as byteseek refuses them: an empty pattern, group, set, text
// or alternative ("01||02"); a hex digit without its pair; unclosed text or
// sets; text inverted ("^'ab'"); a range end that is not one byte, or
// an inverted second end; a repeat with nothing before it, or right
// after another ("01{2}{3}": group it, "(01{2}){3}"); a count of 0
// ("{0,3}": ParseTreeUtils.getRepeatValue [B5]; write ? or *);
// repeats with spaces or without a count ("{2,}"); unknown shorthands.
//
// Refused here though byteseek 2.0.3 read them some way, because the
// way is surely not what was meant: "^." (byteseek ignored the ^), a '^'
// before a repeat ("01^{2}" was "01{2}"), a stray ')' ("01)02" was "01") or
// a trailing '|' ("01|" was "01"), a '(' never closed ("(01" was
// accepted), a group as a range end ("(01)-02" was a range), a pattern
// that can match zero bytes ("01?", "01*": it would keep every packet),
// and text that is not ASCII: byteseek encoded longer 'text' in the
// JVM's default charset but one character and `text` as ISO-8859-1
// (ByteSequenceMatcher; ByteUtils.getBytes [B6]), so such text meant
// different bytes on different hosts; write those bytes in hex.
// Accepted here though byteseek refused it: a repeated group whose
// only item is repeated ("(01{2}){3}", six 01s).
//
// Limits keep compiling bounded on any input: counts up to 65536,
// groups and sets nested 256 deep, patterns of at most 262144 bytes
// (pcap's largest snap length), and 1024 byte positions once repeats are
// expanded for a pattern whose length varies.
//
// # Matching
//
// A pattern of one fixed length is a list of byte sets. Its longest run
// of single-byte positions is searched for with bytes.Index (SIMD code)
// and the other positions are checked around each occurrence, so a
// pattern with some literal bytes costs about what bytes.Index costs
// (30-60 ns a 651-byte frame of Metron's sample); without any, Shift-And
// (up to 64 bytes, about 1 ns a byte) or a check at every offset. Other
// patterns become a Glushkov automaton over classes of bytes, turned
// into a DFA for a search anywhere (one table load a byte, 1.5-2.5 ns),
// or, past 4096 states, simulated as an NFA, whose cost grows with the
// pattern; bytes every match must contain are looked for first with
// bytes.Index, which rules most packets out. Go's regexp cannot search
// raw bytes (it reads UTF-8); over a Latin-1 copy of each frame it was
// 20 to 500 times slower here (BenchmarkMatch).
//
// # Sources
//
// In apache/metron at commit 1252573ea, under metron-platform/:
//
//	[M1] metron-pcap-backend/README.md
//	[M2] metron-pcap/src/main/java/org/apache/metron/pcap/filter/fixed/FixedPcapFilter.java
//	[M3] metron-pcap/src/main/java/org/apache/metron/pcap/PcapHelper.java
//	[M4] metron-pcap/src/main/java/org/apache/metron/pcap/mr/PcapJob.java
//	[M5] metron-pcap-backend/src/main/java/org/apache/metron/spout/pcap/deserializer/FromKeyDeserializer.java
//	[M6] metron-pcap/src/main/java/org/apache/metron/pcap/pattern/ByteArrayMatchingUtil.java
//	[M7] metron-pcap/pom.xml (net.byteseek:byteseek 2.0.3)
//	[M8] metron-pcap/src/test/java/org/apache/metron/pcap/pattern/ByteArrayMatchingUtilTest.java
//
// In nishihatapalmer/byteseek at tag v2.0.3, under src/main/java/net/byteseek/:
//
//	[B1] parser/regex/RegexParser.java (its Javadoc: the syntax)
//	[B2] parser/regex/RegexParser.java (parseSequence, parseSet, matchAtoms,
//	     parseShorthand, parseRepeat, createRange) and parser/StringParseReader.java
//	[B3] compiler/matcher/SequenceMatcherCompiler.java
//	[B4] compiler/matcher/MatcherCompilerUtils.java
//	[B5] parser/tree/ParseTreeUtils.java
//	[B6] utils/ByteUtils.java, matcher/sequence/ByteSequenceMatcher.java
//	[B7] compiler/regex/RegexCompiler.java
//	[B8] sequencesyntax.md (at the repository's root, on master)
//	[B9] matcher/bytes/ByteRangeMatcher.java, AllBitmaskMatcher.java, AnyBitmaskMatcher.java
//
// This package's code is its own; theirs was read for its behaviour.
//
// The package never reads files, decodes packets, logs, or keeps the
// bytes it is given; it allocates only in Compile.
package pattern
