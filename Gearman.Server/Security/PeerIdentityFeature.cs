namespace Gearman.Server.Security;

/// <summary>The Kestrel connection feature through which the TLS middleware hands the verified identity to the connection handler.</summary>
internal sealed record PeerIdentityFeature(PeerIdentity? Identity);
