// Package bootdisk builds tiny raw disk images that really boot under QEMU
// (TCG or KVM): a 512-byte x86 boot sector that writes a known line to the
// first serial port (COM1) and halts. `canopy dev` bootstraps its images from
// it, so the same images prove a real boot on KVM hosts: the console-output
// API shows the line only if guest code actually ran.
package bootdisk

import (
	"errors"
	"fmt"
)

// SectorSize is the size of the boot sector.
const SectorSize = 512

// DefaultSize is the size of a generated disk (1 MiB, a whole number of
// sectors that every hypervisor accepts as a raw disk).
const DefaultSize = 1 << 20

// Line returns the line a disk made with Build(tag) prints: "CANOPY-BOOT-OK <tag>".
func Line(tag string) string { return "CANOPY-BOOT-OK " + tag }

// code is the hand-assembled 16-bit real-mode program, loaded at 0x7C00:
//
//	00 FA          cli
//	01 31 C0       xor  ax, ax
//	03 8E D8       mov  ds, ax
//	05 BE 16 7C    mov  si, 0x7C16        ; the message, right after the code
//	08 BA F8 03    mov  dx, 0x3F8         ; COM1 data port
//	0B AC          lodsb                  ; loop:
//	0C 84 C0       test al, al
//	0E 74 03       jz   done
//	10 EE          out  dx, al
//	11 EB F8       jmp  loop
//	13 F4          hlt                    ; done:
//	14 EB FD       jmp  done
var code = []byte{
	0xFA, 0x31, 0xC0, 0x8E, 0xD8, 0xBE, 0x16, 0x7C, 0xBA, 0xF8, 0x03,
	0xAC, 0x84, 0xC0, 0x74, 0x03, 0xEE, 0xEB, 0xF8, 0xF4, 0xEB, 0xFD,
}

// Build returns a raw disk of size bytes (a multiple of 512, at least 512)
// whose boot sector prints Line(tag) followed by CRLF on COM1.
func Build(tag string, size int) ([]byte, error) {
	if size < SectorSize || size%SectorSize != 0 {
		return nil, fmt.Errorf("bootdisk: size %d is not a positive multiple of %d", size, SectorSize)
	}
	msg := "\r\n" + Line(tag) + "\r\n"
	if len(code)+len(msg)+1 > SectorSize-2 {
		return nil, errors.New("bootdisk: tag too long for one boot sector")
	}
	for _, c := range []byte(msg) {
		if c == 0 {
			return nil, errors.New("bootdisk: tag contains a NUL byte")
		}
	}
	disk := make([]byte, size)
	n := copy(disk, code)
	copy(disk[n:], msg) // the NUL terminator is the zero padding after it
	disk[510], disk[511] = 0x55, 0xAA
	return disk, nil
}
