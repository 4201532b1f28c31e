import Link from "next/link";
import { BrandMark } from "./_components/brand";

export default function NotFound() {
  return (
    <main className="flex min-h-screen flex-col items-center justify-center gap-3 px-4 text-center">
      <BrandMark />
      <h1 className="mt-2 text-base font-semibold text-zinc-100">Page not found</h1>
      <p className="text-xs text-zinc-400">There is nothing at this address.</p>
      <Link href="/" className="mt-2 text-xs text-sky-300 hover:underline">
        Go to the fleet
      </Link>
    </main>
  );
}
