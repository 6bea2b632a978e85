package image_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"testing"

	"github.com/canopy-cloud/canopy/gateway/image"
)

func TestCreateImageFromVolume(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if _, err := e.svc.EnsureImage(ctx, image.ImageSeed{ID: cirrosID, Name: "cirros", Owner: "admin-project", Data: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	zeros := md5.Sum(make([]byte, 4096))
	cases := []struct {
		name, source string
		size         int64
		wantSize     int64
		wantMD5      string
	}{
		{name: "from the volume's source image", source: cirrosID, size: 1 << 30, wantSize: 5, wantMD5: helloMD5},
		{name: "blank volume is zeros of its size", size: 4096, wantSize: 4096, wantMD5: hex.EncodeToString(zeros[:])},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img, err := e.svc.CreateImageFromVolume(ctx, "demo-project", "up", "qcow2", "", tc.source, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			if img.Status != "active" || img.Visibility != "private" || img.Owner != "demo-project" || img.DiskFormat != "qcow2" || img.ContainerFormat != "bare" {
				t.Fatalf("image: %+v", img)
			}
			if *img.Size != tc.wantSize || img.Checksum != tc.wantMD5 {
				t.Fatalf("size %d checksum %s, want %d %s", *img.Size, img.Checksum, tc.wantSize, tc.wantMD5)
			}
		})
	}
}
