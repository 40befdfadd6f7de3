package dpdk

/*
#include <rte_mbuf.h>

static int fc_test_double_free(struct rte_mempool *mp)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	if (m == NULL)
		return -1;
	rte_pktmbuf_free(m);
	rte_pktmbuf_free(m);
	return 0;
}
*/
import "C"

import "errors"

// doubleFreeForTest frees one mbuf twice, the bug the original fastcapa
// had, so a test can show Audit catches it. It corrupts the pool.
func doubleFreeForTest(m *Mempool) error {
	if C.fc_test_double_free(m.mp) != 0 {
		return errors.New("alloc failed")
	}
	return nil
}
