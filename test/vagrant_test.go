package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// TestVagrantLab checks deploy/vagrant without a hypervisor: Ruby parses
// the Vagrantfile; `vagrant validate --ignore-provider` checks every
// setting Vagrant core and the ansible provisioner know (unknown keys,
// network and provisioner options) without a provider; `vagrant validate`
// with VAGRANT_DEFAULT_PROVIDER=libvirt also checks the libvirt block
// through the vagrant-libvirt plugin (no libvirt daemon needed). The
// VirtualBox block is checked only where VirtualBox is installed: Vagrant
// refuses to load its provider without VBoxManage. Validate checks neither
// that the playbook exists nor its contents, so `ansible-playbook
// --syntax-check` reads lab.yml and the site.yml it imports. Each check is
// also run on a broken copy, which must fail. About 6 s, no disk to speak of.
func TestVagrantLab(t *testing.T) {
	ruby := testenv.RequireTool(t, "ruby")
	vagrant := testenv.RequireTool(t, "vagrant")
	playbook := testenv.RequireTool(t, "ansible-playbook")
	dir := filepath.Join(testenv.Root(), "deploy", "vagrant")
	vfile := filepath.Join(dir, "Vagrantfile")
	src, err := os.ReadFile(vfile)
	if err != nil {
		t.Fatal(err)
	}

	run := func(dir string, env []string, name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		// Vagrant keeps its state (.vagrant/) in the dotfile path: not in the tree.
		cmd.Env = append(append(os.Environ(), "VAGRANT_DOTFILE_PATH="+t.TempDir(), "VAGRANT_CHECKPOINT_DISABLE=1"), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	libvirt := []string{"VAGRANT_DEFAULT_PROVIDER=libvirt"}

	if out, err := run(dir, nil, ruby, "-c", vfile); err != nil || !strings.Contains(out, "Syntax OK") {
		t.Fatalf("ruby -c Vagrantfile: %v\n%s", err, out)
	}
	for _, env := range [][]string{nil, libvirt} {
		args := []string{"validate"}
		if env == nil {
			args = append(args, "--ignore-provider")
		}
		out, err := run(dir, env, vagrant, args...)
		if err != nil || !strings.Contains(out, "Vagrantfile validated successfully") {
			t.Fatalf("%v vagrant %v: %v\n%s", env, args, err, out)
		}
		t.Logf("%v vagrant %s: %s", env, strings.Join(args, " "), strings.TrimSpace(out))
	}

	// The same checks must fail on a Vagrantfile with a misspelt setting
	// in each part they claim to cover.
	for _, c := range []struct{ part, old, new string }{
		{"core", `config.vm.box = BOX`, `config.vm.box = BOX; config.vm.boxx = 1`},
		{"ansible provisioner", `ansible.limit = "all"`, `ansible.limit = "all"; ansible.playbok = 1`},
		{"libvirt", `lv.cpus = node[:cpus]`, `lv.cpus = node[:cpus]; lv.bogus = 1`},
	} {
		if !strings.Contains(string(src), c.old) {
			t.Fatalf("Vagrantfile has no %q to break", c.old)
		}
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, "Vagrantfile"), []byte(strings.Replace(string(src), c.old, c.new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := run(bad, libvirt, vagrant, "validate")
		if err == nil || !strings.Contains(out, "shouldn't exist") {
			t.Errorf("vagrant validate passed a misspelt %s setting (%s): %v\n%s", c.part, c.new, err, out)
		}
	}

	// lab.yml, the site.yml it imports (deploy/ansible) and its roles parse.
	site := filepath.Join(testenv.Root(), "deploy", "ansible", "site.yml")
	if _, err := os.Stat(site); err != nil {
		t.Fatalf("lab.yml imports %s: %v", site, err)
	}
	check := func(dir string) (string, error) {
		return run(dir, []string{"ANSIBLE_CONFIG=" + filepath.Join(dir, "ansible.cfg")},
			playbook, "--syntax-check", "-i", "source,sink,", "lab.yml")
	}
	if out, err := check(dir); err != nil {
		t.Fatalf("ansible-playbook --syntax-check lab.yml: %v\n%s", err, out)
	}
	lab, err := os.ReadFile(filepath.Join(dir, "lab.yml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	for _, f := range []string{"ansible.cfg", "lab.yml"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if f == "lab.yml" {
			b = append(lab, []byte("\n- name: broken\n  hosts: all\n  tasks:\n    - ansible.builtin.command: echo {{ x }}: y\n")...)
		}
		if err := os.WriteFile(filepath.Join(bad, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := check(bad); err == nil {
		t.Errorf("ansible-playbook --syntax-check passed a broken lab.yml:\n%s", out)
	}
}
