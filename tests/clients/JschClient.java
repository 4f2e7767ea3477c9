// A session of Java's classic JSch (com.jcraft.jsch 0.1.5x, the Debian package libjsch-java)
// against an sftpha cluster, as an old Java integration would run it: host key checked
// against a known_hosts file (StrictHostKeyChecking=yes), login with a key, then mkdir, put,
// get back byte-identical, rename, ls, rm, rmdir.
//
// Run in single-file source mode (no build step):
//   java -cp /usr/share/java/jsch.jar tests/clients/JschClient.java \
//     HOST PORT USER KEY KNOWN_HOSTS LOCAL_FILE REMOTE_DIR [SERVER_HOST_KEY_ALGORITHMS]
// Prints `ok: ...` lines and the negotiated host key type; exits 0 when every step held, 1
// on the first that did not (with what was expected and what happened).

import com.jcraft.jsch.ChannelSftp;
import com.jcraft.jsch.JSch;
import com.jcraft.jsch.Session;

import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Properties;
import java.util.Vector;

public class JschClient {
    static void fail(String message) {
        System.err.println("FAIL: " + message);
        System.exit(1);
    }

    static void expect(boolean condition, String message) {
        if (!condition) {
            fail(message);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 7) {
            fail("usage: HOST PORT USER KEY KNOWN_HOSTS LOCAL_FILE REMOTE_DIR [HOST_KEY_ALGORITHMS]");
        }
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        String user = args[2];
        String key = args[3];
        String knownHosts = args[4];
        String local = args[5];
        String dir = args[6];

        JSch jsch = new JSch();
        jsch.setKnownHosts(knownHosts);
        jsch.addIdentity(key);
        Session session = jsch.getSession(user, host, port);
        Properties config = new Properties();
        config.put("StrictHostKeyChecking", "yes");
        config.put("PreferredAuthentications", "publickey");
        if (args.length > 7) {
            config.put("server_host_key", args[7]);
        }
        session.setConfig(config);
        try {
            session.connect(15000);
        } catch (Exception e) {
            fail("connect: " + e);
        }
        System.out.println("ok: logged in; host key " + session.getHostKey().getType()
                + " " + session.getHostKey().getFingerPrint(jsch));

        ChannelSftp sftp = (ChannelSftp) session.openChannel("sftp");
        sftp.connect(15000);
        byte[] data = Files.readAllBytes(Paths.get(local));

        sftp.mkdir(dir);
        sftp.cd(dir);
        try (FileInputStream in = new FileInputStream(local)) {
            sftp.put(in, "upload.bin");
        }
        ByteArrayOutputStream back = new ByteArrayOutputStream();
        sftp.get("upload.bin", back);
        expect(Arrays.equals(data, back.toByteArray()),
                "get returned " + back.size() + " bytes that differ from the " + data.length + " put");
        System.out.println("ok: put and got back " + data.length + " bytes, identical");

        sftp.rename("upload.bin", "renamed.bin");
        Vector<?> entries = sftp.ls(".");
        boolean renamed = false;
        boolean original = false;
        for (Object o : entries) {
            String name = ((ChannelSftp.LsEntry) o).getFilename();
            renamed |= name.equals("renamed.bin");
            original |= name.equals("upload.bin");
        }
        expect(renamed && !original, "ls after rename: " + entries);
        long size = sftp.stat("renamed.bin").getSize();
        expect(size == data.length, "renamed.bin has " + size + " bytes");
        System.out.println("ok: renamed, listed");

        sftp.rm("renamed.bin");
        sftp.cd("..");
        sftp.rmdir(dir);
        boolean gone = true;
        for (Object o : sftp.ls(".")) {
            gone &= !((ChannelSftp.LsEntry) o).getFilename().equals(dir);
        }
        expect(gone, "the folder " + dir + " is still listed after rmdir");
        System.out.println("ok: removed the file and the folder");

        sftp.disconnect();
        session.disconnect();
    }
}
