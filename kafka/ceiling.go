package kafka

import "github.com/fastcapa-go/fastcapa/kafka/internal/rdk"

// CeilingSpec and CeilingResult describe a run of CCeiling (see
// kafka/internal/rdk).
type (
	CeilingSpec   = rdk.Spec
	CeilingResult = rdk.Result
)

// CCeiling is make bench's C ceiling: librdkafka alone producing
// synthetic messages from one C loop, delivery reports counted in C
// (rdk.Ceiling). It is here for fcbench, which may not import
// kafka/internal/rdk.
func CCeiling(s CeilingSpec) (CeilingResult, error) { return rdk.Ceiling(s) }
