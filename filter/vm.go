package filter

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/net/bpf"
)

// Classic BPF opcodes (pcap/bpf.h), the subset libpcap's interpreter
// runs. Each is class | size or operation | mode or source.
const (
	opLdW    = 0x00 | 0x00 | 0x20 // BPF_LD|BPF_W|BPF_ABS
	opLdH    = 0x00 | 0x08 | 0x20 // BPF_LD|BPF_H|BPF_ABS
	opLdB    = 0x00 | 0x10 | 0x20 // BPF_LD|BPF_B|BPF_ABS
	opLdLen  = 0x00 | 0x00 | 0x80 // BPF_LD|BPF_W|BPF_LEN
	opLdxLen = 0x01 | 0x00 | 0x80 // BPF_LDX|BPF_W|BPF_LEN
	opLdWInd = 0x00 | 0x00 | 0x40 // BPF_LD|BPF_W|BPF_IND
	opLdHInd = 0x00 | 0x08 | 0x40 // BPF_LD|BPF_H|BPF_IND
	opLdBInd = 0x00 | 0x10 | 0x40 // BPF_LD|BPF_B|BPF_IND
	opLdxMsh = 0x01 | 0x10 | 0xa0 // BPF_LDX|BPF_MSH|BPF_B
	opLdImm  = 0x00 | 0x00        // BPF_LD|BPF_IMM
	opLdxImm = 0x01 | 0x00        // BPF_LDX|BPF_IMM
	opLdMem  = 0x00 | 0x60        // BPF_LD|BPF_MEM
	opLdxMem = 0x01 | 0x60        // BPF_LDX|BPF_MEM
	opSt     = 0x02               // BPF_ST
	opStx    = 0x03               // BPF_STX
	opJa     = 0x05 | 0x00        // BPF_JMP|BPF_JA
	opJgtK   = 0x05 | 0x20        // BPF_JMP|BPF_JGT|BPF_K
	opJgeK   = 0x05 | 0x30        // BPF_JMP|BPF_JGE|BPF_K
	opJeqK   = 0x05 | 0x10        // BPF_JMP|BPF_JEQ|BPF_K
	opJsetK  = 0x05 | 0x40        // BPF_JMP|BPF_JSET|BPF_K
	opJgtX   = 0x05 | 0x20 | 0x08 // BPF_JMP|BPF_JGT|BPF_X
	opJgeX   = 0x05 | 0x30 | 0x08 // BPF_JMP|BPF_JGE|BPF_X
	opJeqX   = 0x05 | 0x10 | 0x08 // BPF_JMP|BPF_JEQ|BPF_X
	opJsetX  = 0x05 | 0x40 | 0x08 // BPF_JMP|BPF_JSET|BPF_X
	opAddX   = 0x04 | 0x00 | 0x08 // BPF_ALU|BPF_ADD|BPF_X
	opSubX   = 0x04 | 0x10 | 0x08
	opMulX   = 0x04 | 0x20 | 0x08
	opDivX   = 0x04 | 0x30 | 0x08
	opModX   = 0x04 | 0x90 | 0x08
	opAndX   = 0x04 | 0x50 | 0x08
	opOrX    = 0x04 | 0x40 | 0x08
	opXorX   = 0x04 | 0xa0 | 0x08
	opLshX   = 0x04 | 0x60 | 0x08
	opRshX   = 0x04 | 0x70 | 0x08
	opAddK   = 0x04 | 0x00 // BPF_ALU|BPF_ADD|BPF_K
	opSubK   = 0x04 | 0x10
	opMulK   = 0x04 | 0x20
	opDivK   = 0x04 | 0x30
	opModK   = 0x04 | 0x90
	opAndK   = 0x04 | 0x50
	opOrK    = 0x04 | 0x40
	opXorK   = 0x04 | 0xa0
	opLshK   = 0x04 | 0x60
	opRshK   = 0x04 | 0x70
	opNeg    = 0x04 | 0x80 // BPF_ALU|BPF_NEG
	opTax    = 0x07 | 0x00 // BPF_MISC|BPF_TAX
	opTxa    = 0x07 | 0x80 // BPF_MISC|BPF_TXA
	opRetK   = 0x06 | 0x00 // BPF_RET|BPF_K
	opRetA   = 0x06 | 0x10 // BPF_RET|BPF_A
	memWords = 16          // BPF_MEMWORDS
)

// maxBackwardJumps bounds the backward jumps one run may take.
// libpcap compiles "protochain" into a loop over extension headers, and
// 1.10's loop can revisit the same header forever on a crafted IPv6/AH
// packet; libpcap's interpreter has since stopped a run after 64
// backward jumps (rejecting the packet), and so do we.
const maxBackwardJumps = 64

// validate checks a program as libpcap's pcap_validate_filter does,
// plus that every jump, backward ones too, lands inside it: then run
// never indexes outside the program, whatever the packet.
func validate(prog []bpf.RawInstruction) error {
	if len(prog) == 0 {
		return fmt.Errorf("empty program")
	}
	for pc, ins := range prog {
		switch ins.Op {
		case opRetK, opRetA, opLdW, opLdH, opLdB, opLdLen, opLdxLen,
			opLdWInd, opLdHInd, opLdBInd, opLdxMsh, opLdImm, opLdxImm,
			opAddX, opSubX, opMulX, opDivX, opModX, opAndX, opOrX, opXorX, opLshX, opRshX,
			opAddK, opSubK, opMulK, opAndK, opOrK, opXorK, opNeg, opTax, opTxa:
		case opLdMem, opLdxMem, opSt, opStx:
			if ins.K >= memWords {
				return fmt.Errorf("instruction %d: scratch word %d out of range", pc, ins.K)
			}
		case opDivK, opModK:
			if ins.K == 0 {
				return fmt.Errorf("instruction %d: division by zero", pc)
			}
		case opLshK, opRshK:
			if ins.K > 31 {
				return fmt.Errorf("instruction %d: shift by %d", pc, ins.K)
			}
		case opJa:
			if to := pc + 1 + int(int32(ins.K)); to < 0 || to >= len(prog) || to == pc {
				return fmt.Errorf("instruction %d: jump to %d out of the program", pc, to)
			}
		case opJgtK, opJgeK, opJeqK, opJsetK, opJgtX, opJgeX, opJeqX, opJsetX:
			if pc+1+int(max(ins.Jt, ins.Jf)) >= len(prog) {
				return fmt.Errorf("instruction %d: jump out of the program", pc)
			}
		default:
			return fmt.Errorf("instruction %d: opcode %#x not supported", pc, ins.Op)
		}
	}
	switch prog[len(prog)-1].Op {
	case opRetK, opRetA:
	default:
		return fmt.Errorf("program does not end with a return")
	}
	return nil
}

// run interprets a validated program over a packet with libpcap's
// semantics (bpf_filter.c): data is the captured bytes, wireLen what
// "len" loads; a load past the captured bytes, or a division by zero,
// rejects the packet (returns 0). It returns the program's result and
// whether the run was cut short by maxBackwardJumps.
//
// It allocates nothing and reads nothing but its arguments.
func run(prog []bpf.RawInstruction, data []byte, wireLen uint32) (uint32, bool) {
	var a, x uint32
	var mem [memWords]uint32
	n := uint64(len(data))
	backward := 0
	for pc := 0; pc < len(prog); pc++ {
		ins := &prog[pc]
		k := ins.K
		switch ins.Op {
		case opRetK:
			return k, false
		case opRetA:
			return a, false

		case opLdW:
			if uint64(k)+4 > n {
				return 0, false
			}
			a = binary.BigEndian.Uint32(data[k:])
		case opLdH:
			if uint64(k)+2 > n {
				return 0, false
			}
			a = uint32(binary.BigEndian.Uint16(data[k:]))
		case opLdB:
			if uint64(k) >= n {
				return 0, false
			}
			a = uint32(data[k])
		case opLdWInd:
			off := uint64(x) + uint64(k)
			if off+4 > n {
				return 0, false
			}
			a = binary.BigEndian.Uint32(data[off:])
		case opLdHInd:
			off := uint64(x) + uint64(k)
			if off+2 > n {
				return 0, false
			}
			a = uint32(binary.BigEndian.Uint16(data[off:]))
		case opLdBInd:
			off := uint64(x) + uint64(k)
			if off >= n {
				return 0, false
			}
			a = uint32(data[off])
		case opLdxMsh:
			if uint64(k) >= n {
				return 0, false
			}
			x = uint32(data[k]&0xf) << 2
		case opLdLen:
			a = wireLen
		case opLdxLen:
			x = wireLen
		case opLdImm:
			a = k
		case opLdxImm:
			x = k
		case opLdMem:
			a = mem[k&(memWords-1)]
		case opLdxMem:
			x = mem[k&(memWords-1)]
		case opSt:
			mem[k&(memWords-1)] = a
		case opStx:
			mem[k&(memWords-1)] = x

		case opJa:
			if int32(k) < 0 {
				if backward >= maxBackwardJumps {
					return 0, true
				}
				backward++
			}
			pc += int(int32(k))
		case opJgtK:
			pc += int(jump(a > k, ins))
		case opJgeK:
			pc += int(jump(a >= k, ins))
		case opJeqK:
			pc += int(jump(a == k, ins))
		case opJsetK:
			pc += int(jump(a&k != 0, ins))
		case opJgtX:
			pc += int(jump(a > x, ins))
		case opJgeX:
			pc += int(jump(a >= x, ins))
		case opJeqX:
			pc += int(jump(a == x, ins))
		case opJsetX:
			pc += int(jump(a&x != 0, ins))

		case opAddX:
			a += x
		case opSubX:
			a -= x
		case opMulX:
			a *= x
		case opDivX:
			if x == 0 {
				return 0, false
			}
			a /= x
		case opModX:
			if x == 0 {
				return 0, false
			}
			a %= x
		case opAndX:
			a &= x
		case opOrX:
			a |= x
		case opXorX:
			a ^= x
		case opLshX:
			a <<= x // Go gives 0 for x >= 32, as libpcap does
		case opRshX:
			a >>= x
		case opAddK:
			a += k
		case opSubK:
			a -= k
		case opMulK:
			a *= k
		case opDivK:
			a /= k // validate rejected k == 0
		case opModK:
			a %= k
		case opAndK:
			a &= k
		case opOrK:
			a |= k
		case opXorK:
			a ^= k
		case opLshK:
			a <<= k
		case opRshK:
			a >>= k
		case opNeg:
			a = -a
		case opTax:
			x = a
		case opTxa:
			a = x
		default:
			return 0, false // validate rejected it
		}
	}
	return 0, false // validate made the last instruction a return
}

// jump is a conditional jump's offset.
func jump(cond bool, ins *bpf.RawInstruction) uint8 {
	if cond {
		return ins.Jt
	}
	return ins.Jf
}
