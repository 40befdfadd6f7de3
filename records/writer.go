package records

import (
	"errors"
)

// WriterSpec says what a Writer writes and where.
type WriterSpec struct {
	// Dir is the output root: packet records under Dir/packets, flow
	// records under Dir/flows, each in date=/hour= partitions.
	Dir string
	// Packets and Flows choose the kinds written.
	Packets, Flows bool
	// Stem makes this writer's file names unique (DatasetSpec.Stem).
	Stem         string
	Timeouts     Timeouts
	RowGroupRows int64
	// FlowOut, if set, is given each flow record as it is written (the
	// flow topic). It must not keep the *Flow.
	FlowOut func(*Flow) error
}

// Counts is what a Writer has done.
type Counts struct {
	Packets int64 // packets read
	NonIP   int64 // of them, without an IP header: no flow
	Flows   int64 // flow records written
}

// Writer turns packets into packet rows and, through a Table, flow rows:
// the one path from a packet to its records, for files and the topic
// alike. Not safe for concurrent use.
type Writer struct {
	spec    WriterSpec
	packets *Dataset[Packet]
	flows   *Dataset[Flow]
	table   *Table
	names   addrNames
	err     error // the first error of a flow's emit
	Counts
}

// NewWriter returns a Writer; nothing is created before the first row.
func NewWriter(spec WriterSpec) *Writer {
	w := &Writer{spec: spec}
	if spec.Packets {
		w.packets = NewDataset[Packet](DatasetSpec{Dir: spec.Dir + "/packets", Kind: "packets", Stem: spec.Stem,
			RowGroupRows: spec.RowGroupRows})
	}
	if spec.Flows {
		w.flows = NewDataset[Flow](DatasetSpec{Dir: spec.Dir + "/flows", Kind: "flows", Stem: spec.Stem,
			RowGroupRows: spec.RowGroupRows})
	}
	w.table = NewTable(spec.Timeouts, w.flow)
	return w
}

// Add decodes one record and writes its rows.
func (w *Writer) Add(ts int64, origLen, linkType uint32, data []byte, source string, position int64) error {
	if w.err != nil {
		return w.err
	}
	d := Decode(ts, origLen, linkType, data, source, position)
	w.Packets++
	if d.Frame.N == 0 {
		w.NonIP++
	}
	// The table runs without flow output too: a packet row carries
	// its flow's Community ID.
	cid := w.table.Add(&d)
	if w.err != nil {
		return w.err
	}
	if w.packets != nil {
		var row Packet
		row.fill(&d, new(packetVals), &w.names, cid)
		return w.packets.Write(d.Ts, row)
	}
	return nil
}

// flow writes one flow record: a copy, since f changes after.
func (w *Writer) flow(f *Flow) {
	if w.err != nil {
		return
	}
	if w.flows == nil && w.spec.FlowOut == nil {
		return
	}
	w.Flows++
	if w.spec.FlowOut != nil {
		if err := w.spec.FlowOut(f); err != nil {
			w.err = err
			return
		}
	}
	if w.flows != nil {
		if err := w.flows.Write(f.First, f.clone()); err != nil {
			w.err = err
		}
	}
}

// Close writes the flows still open with End "end" and publishes every
// file.
func (w *Writer) Close() error {
	w.table.Flush()
	errs := []error{w.err}
	if w.packets != nil {
		errs = append(errs, w.packets.Close())
	}
	if w.flows != nil {
		errs = append(errs, w.flows.Close())
	}
	return errors.Join(errs...)
}

// Seal completes every file under its hidden name (Dataset.Seal) for a
// checkpoint to publish.
func (w *Writer) Seal() ([]Sealed, error) {
	var out []Sealed
	var errs []error
	for _, seal := range []func() ([]Sealed, error){w.sealPackets, w.sealFlows} {
		s, err := seal()
		out = append(out, s...)
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

func (w *Writer) sealPackets() ([]Sealed, error) {
	if w.packets == nil {
		return nil, nil
	}
	return w.packets.Seal()
}

func (w *Writer) sealFlows() ([]Sealed, error) {
	if w.flows == nil {
		return nil, nil
	}
	return w.flows.Seal()
}

// Abort drops every file not sealed yet and those sealed but not handed
// out.
func (w *Writer) Abort() {
	if w.packets != nil {
		w.packets.Abort()
	}
	if w.flows != nil {
		w.flows.Abort()
	}
}
