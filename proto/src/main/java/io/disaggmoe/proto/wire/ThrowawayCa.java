package io.disaggmoe.proto.wire;

import java.io.IOException;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A certificate authority made for one local run, and certificates it signs for the stages: each
 * certificate serves as both server and client (mutual TLS), for loopback names and this host. Its
 * key lives only in memory; the files it writes are what {@link TransportSecurity} reads.
 */
public final class ThrowawayCa {
  private static final Duration VALIDITY = Duration.ofDays(30);
  private static final String SIGNATURE = "SHA256withECDSA";

  private final X500Name name;
  private final KeyPair keys;
  private final X509Certificate certificate;
  private final SecureRandom random = new SecureRandom();

  private ThrowawayCa(String commonName) throws GeneralSecurityException {
    this.name = new X500Name("CN=" + commonName);
    this.keys = newKeyPair();
    try {
      X509v3CertificateBuilder b =
          new JcaX509v3CertificateBuilder(
              name, serial(), notBefore(), notAfter(), name, keys.getPublic());
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
      b.addExtension(
          Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
      this.certificate = sign(b);
    } catch (IOException e) {
      throw new GeneralSecurityException("cannot build the CA certificate", e);
    }
  }

  /** A new CA named {@code commonName}. */
  public static ThrowawayCa create(String commonName) {
    try {
      return new ThrowawayCa(commonName);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot create a throwaway CA", e);
    }
  }

  /**
   * Writes {@code ca.pem}, and {@code <stem>.pem} with {@code <stem>.key} (PKCS#8) for a stage
   * certificate valid for localhost, 127.0.0.1, ::1 and this host's name, into {@code dir}.
   */
  public TransportSecurity.TlsFiles issue(Path dir, String stem) throws IOException {
    try {
      KeyPair leaf = newKeyPair();
      X509v3CertificateBuilder b =
          new JcaX509v3CertificateBuilder(
              name,
              serial(),
              notBefore(),
              notAfter(),
              new X500Name("CN=disaggmoe " + stem),
              leaf.getPublic());
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
      b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
      b.addExtension(
          Extension.extendedKeyUsage,
          false,
          new ExtendedKeyUsage(
              new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
      b.addExtension(Extension.subjectAlternativeName, false, localNames());
      X509Certificate cert = sign(b);
      Files.createDirectories(dir);
      Path ca = dir.resolve("ca.pem");
      Path certFile = dir.resolve(stem + ".pem");
      Path keyFile = dir.resolve(stem + ".key");
      Files.writeString(ca, pem("CERTIFICATE", certificate.getEncoded()));
      Files.writeString(certFile, pem("CERTIFICATE", cert.getEncoded()));
      writePrivate(keyFile, leaf.getPrivate());
      return new TransportSecurity.TlsFiles(certFile, keyFile, ca);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot issue a certificate for " + stem, e);
    }
  }

  private static void writePrivate(Path file, PrivateKey key) throws IOException {
    Files.deleteIfExists(file);
    try {
      Files.createFile(
          file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    } catch (UnsupportedOperationException e) {
      Files.createFile(file);
    }
    Files.writeString(file, pem("PRIVATE KEY", key.getEncoded()));
  }

  private static GeneralNames localNames() {
    List<GeneralName> names = new ArrayList<>();
    names.add(new GeneralName(GeneralName.dNSName, "localhost"));
    names.add(new GeneralName(GeneralName.iPAddress, "127.0.0.1"));
    names.add(new GeneralName(GeneralName.iPAddress, "::1"));
    try {
      String host = InetAddress.getLocalHost().getHostName();
      if (!host.equals("localhost")) {
        names.add(new GeneralName(GeneralName.dNSName, host));
      }
    } catch (IOException e) {
      // No resolvable host name: loopback names only.
    }
    return new GeneralNames(names.toArray(GeneralName[]::new));
  }

  private X509Certificate sign(X509v3CertificateBuilder b) throws GeneralSecurityException {
    try {
      return new JcaX509CertificateConverter()
          .getCertificate(b.build(new JcaContentSignerBuilder(SIGNATURE).build(keys.getPrivate())));
    } catch (OperatorCreationException e) {
      throw new GeneralSecurityException(e);
    }
  }

  private static KeyPair newKeyPair() throws GeneralSecurityException {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"));
    return g.generateKeyPair();
  }

  private BigInteger serial() {
    return new BigInteger(64, random).add(BigInteger.ONE);
  }

  private static Date notBefore() {
    // A little slack for clocks of other machines that will read the certificate.
    return Date.from(Instant.now().minus(Duration.ofHours(1)));
  }

  private static Date notAfter() {
    return Date.from(Instant.now().plus(VALIDITY));
  }

  private static String pem(String type, byte[] der) {
    return "-----BEGIN "
        + type
        + "-----\n"
        + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der)
        + "\n-----END "
        + type
        + "-----\n";
  }
}
