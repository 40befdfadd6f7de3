package dpdk

/*
#include <rte_mbuf.h>
#include <rte_ethdev.h>

static int fc_test_mtu(uint16_t port)
{
	uint16_t mtu;
	int rc = rte_eth_dev_get_mtu(port, &mtu);

	return rc != 0 ? rc : mtu;
}

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

import (
	"errors"
	"fmt"
)

// doubleFreeForTest frees one mbuf twice, the bug the original fastcapa
// had, so a test can show Audit catches it. It corrupts the pool.
func doubleFreeForTest(m *Mempool) error {
	if C.fc_test_double_free(m.mp) != 0 {
		return errors.New("alloc failed")
	}
	return nil
}

// portMTU is a port's MTU now, which rte_eth_dev_configure sets.
func portMTU(name string) (int, error) {
	id, err := portID(name)
	if err != nil {
		return 0, err
	}
	n := int(C.fc_test_mtu(id))
	if n < 0 {
		return 0, fmt.Errorf("device info: %w", Errno(-n))
	}
	return n, nil
}
